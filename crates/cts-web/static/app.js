// CTS workbench script. On every page: signing out clears this browser's
// unsaved draft copies, and a message left by the previous page (e.g.
// "review submitted") is shown. On the review page: keyboard-first step
// labelling, inline editing with a word-level diff, autosave that survives
// reloads and lost connections, and submit-and-next.
// Every rule that matters is checked again on the server; this script only
// makes the work fast. No framework, no requests outside this server.
(() => {
  'use strict';
  const DRAFT_PREFIX = 'cts-draft:';
  let flushBeforeSignOut = null; // set by the review page

  /** Removes every local draft copy kept by this browser. */
  function clearDraftCopies() {
    try {
      for (let i = localStorage.length - 1; i >= 0; i--) {
        const k = localStorage.key(i);
        if (k && k.startsWith(DRAFT_PREFIX)) localStorage.removeItem(k);
      }
    } catch (_) { /* storage unavailable: nothing kept */ }
  }

  const logoutForm = document.querySelector('form[action="/logout"]');
  if (logoutForm) {
    logoutForm.addEventListener('submit', () => {
      if (flushBeforeSignOut) flushBeforeSignOut();
      clearDraftCopies();
    });
  }

  const flashEl = document.getElementById('flash');
  try {
    const flash = sessionStorage.getItem('cts-flash');
    if (flash && flashEl) {
      sessionStorage.removeItem('cts-flash');
      flashEl.textContent = flash;
      flashEl.hidden = false;
    }
  } catch (_) { /* no session storage: no message */ }

  const stateEl = document.getElementById('review-state');
  if (stateEl) review(JSON.parse(stateEl.textContent));

  function review(S) {
    const csrf = document.querySelector('meta[name="csrf-token"]').content;
    const rubric = S.rubric;
    const original = S.original;
    const editable = S.editing;
    // Local copies belong to one user and one trace, and are cleared on sign-out.
    const storeKey = DRAFT_PREFIX + S.user + ':' + S.trace;
    const api = (path) => path + '?trace=' + encodeURIComponent(S.trace);

    // This tab's identity, kept across its reloads: the server takes a save
    // from the same tab at a higher change counter as that tab's own newer
    // state, never as a second tab.
    const randomId = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
    let client;
    try {
      const nav = performance.getEntriesByType('navigation')[0];
      const again = nav && (nav.type === 'reload' || nav.type === 'back_forward');
      client = again ? sessionStorage.getItem('cts-tab') : null;
      if (!client) { client = randomId(); sessionStorage.setItem('cts-tab', client); }
    } catch (_) { client = client || randomId(); }
    let seq = Date.now();
    const bump = () => { seq = Math.max(seq + 1, Date.now()); return seq; };

    let body = S.body;
    let revision = S.revision;
    let cur = 0;            // current step
    let mode = 'steps';     // steps | flags | ratings
    let ratingCur = 0;
    let ratingMsg = '';
    let editor = null;      // {i, kind: 'edit' | 'add' | 'delete'}
    let saveTimer = null;
    let saving = null;
    let pending = false;
    let conflict = false;
    let submitting = false;

    const $ = (id) => document.getElementById(id);
    const el = (tag, attrs = {}, ...kids) => {
      const e = document.createElement(tag);
      for (const [k, v] of Object.entries(attrs)) {
        if (k === 'class') e.className = v;
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
      }
      for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
      return e;
    };

    function writeLocal() {
      if (conflict) return;
      try { localStorage.setItem(storeKey, JSON.stringify({ base: revision, body, client, seq })); } catch (_) {}
    }
    function dropLocal() {
      try { localStorage.removeItem(storeKey); } catch (_) {}
    }

    // Reconcile a local copy the server has not acknowledged: it wins when
    // made from the revision the server has now, or by this very tab (a
    // reload raced the save flushed as the page was left).
    if (editable) {
      try {
        const local = JSON.parse(localStorage.getItem(storeKey) || 'null');
        if (local && local.body && (local.base === revision || local.client === client)) {
          body = local.body;
          if (typeof local.seq === 'number') seq = Math.max(seq, local.seq);
          pending = true;
        }
      } catch (_) { /* unreadable local copy: ignore */ }
    } else {
      dropLocal();
    }

    function setStatus(text, cls) {
      const s = $('save-status');
      s.textContent = text;
      s.className = 'save-status ' + (cls || '');
    }

    /** A message that stays in view (the banner is sticky) until cleared. */
    function showBanner(text, withReload) {
      const b = $('banner');
      b.replaceChildren(text || '');
      if (withReload) b.append(' ', el('button', { type: 'button', id: 'banner-reload', onclick: () => location.reload() }, 'Reload'));
      b.hidden = !text;
    }

    /** An error beside the Submit button, also in the banner. */
    function submitError(text, withReload) {
      const m = $('submit-msg');
      if (m) m.textContent = text;
      showBanner(text, withReload);
    }

    function changed() {
      if (!editable) return;
      pending = true;
      bump();
      writeLocal();
      if (conflict) return; // the banner says to reload; nothing saves from here
      setStatus('unsaved changes…', 'dirty');
      const m = $('submit-msg');
      if (m && !conflict) m.textContent = '';
      clearTimeout(saveTimer);
      saveTimer = setTimeout(save, 600);
    }

    function onConflict(message) {
      conflict = true;
      // A reload continues from the saved version, not from this tab's copy.
      dropLocal();
      setStatus('conflict', 'bad');
      submitError(message || 'This draft was changed in another tab or window. Reload to continue from the saved version (your text here stays in this tab until you reload).', true);
    }

    async function save() {
      if (!editable || conflict || !pending) return;
      if (saving) { await saving; if (!pending) return; }
      clearTimeout(saveTimer);
      const sent = JSON.stringify({ body, revision, client, seq });
      pending = false;
      let retry = false;
      saving = (async () => {
        try {
          const r = await fetch(api('/api/draft'), {
            method: 'PUT',
            headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
            body: sent,
          });
          if (r.ok) {
            revision = (await r.json()).revision;
            if (!pending) { dropLocal(); setStatus('draft saved', 'ok'); } else writeLocal();
          } else if (r.status === 409) {
            const err = await r.json().catch(() => ({}));
            onConflict(err.error ? 'Not saved: ' + err.error.replace(/^conflict: /, '') : undefined);
          } else if (r.status === 401) {
            pending = true;
            setStatus('signed out', 'bad');
            submitError('Your session has ended: sign in again (in another tab) and this page saves again; your changes are kept in this browser.');
            retry = true;
            saveTimer = setTimeout(save, 5000);
          } else {
            const err = await r.json().catch(() => ({ error: r.statusText }));
            pending = true;
            setStatus('not saved', 'bad');
            submitError('Draft not saved: ' + err.error);
          }
        } catch (_) {
          pending = true;
          setStatus('offline — kept in this browser, retrying', 'bad');
          retry = true;
          saveTimer = setTimeout(save, 3000);
        }
      })();
      await saving;
      saving = null;
      if (pending && !conflict && !retry) { clearTimeout(saveTimer); saveTimer = setTimeout(save, 600); }
    }

    /** Sends a pending change as the page is left or hidden; the local copy covers a failure. */
    function flush() {
      if (!editable || conflict || !pending || submitting) return;
      try {
        fetch(api('/api/draft'), {
          method: 'PUT', keepalive: true,
          headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
          body: JSON.stringify({ body, revision, client, seq }),
        }).catch(() => {});
      } catch (_) { /* the local copy stays */ }
    }

    const diffCache = new Map();
    async function diffOf(orig, text) {
      const key = orig + '\u0000' + text;
      if (diffCache.has(key)) return diffCache.get(key);
      const r = await fetch('/api/diff', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ original: orig, text }),
      });
      if (!r.ok) return null;
      const ops = await r.json();
      diffCache.set(key, ops);
      return ops;
    }

    const isAdded = (s) => s.origin === null || s.origin === undefined;
    const isEdited = (s) => isAdded(s) || original[s.origin] !== s.text;

    const LABELS = [[-1, '−1', 'neg'], [0, '0', 'neu'], [1, '+1', 'pos']];

    function stepButtons(i) {
      if (!editable) return null;
      const b = (id, text, title, fn) => el('button', { type: 'button', class: 'step-btn ' + id, title, onclick: (e) => { e.stopPropagation(); cur = i; fn(); } }, text);
      return el('span', { class: 'step-actions' },
        b('edit', 'Edit', 'Edit this step (e)', () => { editor = { i, kind: 'edit' }; render(); }),
        b('add', 'Add after', 'Add a step after this one (a)', () => addStep(i + 1)),
        b('delete', 'Delete', 'Delete this step (d)', () => { editor = { i, kind: 'delete' }; render(); }));
    }

    function renderSteps() {
      const ol = $('steps');
      ol.replaceChildren();
      if (!body.steps.length) {
        ol.append(el('li', { class: 'hint', id: 'no-steps' }, 'The model wrote no reasoning steps. A review needs at least one: press ',
          el('kbd', {}, 'a'), ' or use “Add step” below to write the step the answer rests on.'));
      }
      body.steps.forEach((s, i) => {
        const li = el('li', { class: 'step' + (i === cur ? ' current' : '') + (s.label === null || s.label === undefined ? ' unlabelled' : ''), 'data-index': i, id: 'step-' + i });
        li.addEventListener('click', () => { if (cur !== i) { cur = i; render(); } });
        const labels = el('span', { class: 'labels', role: 'group', 'aria-label': 'step label' });
        LABELS.forEach(([v, t, c], k) => {
          labels.append(el('button', {
            type: 'button', class: 'lbl ' + c + (s.label === v ? ' on' : ''), 'aria-pressed': s.label === v ? 'true' : 'false',
            title: (k + 1) + ': ' + [rubric.step_labels.negative, rubric.step_labels.neutral, rubric.step_labels.positive][k],
            disabled: !editable, onclick: (e) => { e.stopPropagation(); setLabel(i, v); },
          }, t));
        });
        const head = el('div', { class: 'step-head' }, el('span', { class: 'step-num' }, String(i + 1)), labels,
          isAdded(s) ? el('span', { class: 'tag added' }, 'added') : (isEdited(s) ? el('span', { class: 'tag edited' }, 'edited') : null),
          stepButtons(i));
        li.append(head);
        if (editor && editor.i === i && editor.kind !== 'delete') {
          li.append(renderEditor(s));
        } else {
          const text = el('div', { class: 'text' });
          text.textContent = s.text;
          li.append(text);
          if (!isAdded(s) && isEdited(s)) {
            const diff = el('div', { class: 'text diff', title: 'changes against the model’s text' });
            li.append(diff);
            diffOf(original[s.origin], s.text).then((ops) => {
              if (!ops) return;
              diff.replaceChildren(el('span', { class: 'diff-label' }, 'Changes: '),
                ...ops.map((o) => el(o.op === 'equal' ? 'span' : (o.op === 'delete' ? 'del' : 'ins'), {}, o.text)));
            });
          }
          if (isEdited(s) && s.edit_rationale) li.append(el('div', { class: 'why' }, 'Why: ' + s.edit_rationale));
        }
        if (editor && editor.i === i && editor.kind === 'delete') li.append(renderDeleteBox(i));
        const flags = el('div', { class: 'flags' + (mode === 'flags' && i === cur ? ' picking' : '') });
        rubric.flags.forEach((f, k) => {
          const id = 'flag-' + i + '-' + f.id;
          const box = el('input', { type: 'checkbox', id, disabled: !editable, 'data-flag': f.id });
          box.checked = (s.flags || []).includes(f.id);
          box.addEventListener('change', () => toggleFlag(i, f.id));
          box.addEventListener('click', (e) => e.stopPropagation());
          flags.append(el('label', { for: id, title: f.description, class: f.unsafe_ ? 'unsafe' : '' }, box, ' ', el('kbd', {}, String(k + 1)), ' ', f.title));
        });
        li.append(flags);
        ol.append(li);
      });
      const deleted = body.deleted || [];
      if (deleted.length) {
        const box = el('li', { class: 'deleted-list' }, el('b', {}, 'Deleted steps'));
        deleted.forEach((d, k) => box.append(el('div', { class: 'deleted' },
          el('del', {}, original[d.origin] || ''), el('div', { class: 'why' }, 'Why: ' + d.rationale),
          editable ? el('button', { type: 'button', onclick: () => restore(k) }, 'Restore') : null)));
        ol.append(box);
      }
      const add = $('add-step');
      if (add) add.hidden = !editable;
    }

    function renderEditor(s) {
      const wrap = el('div', { class: 'editor' });
      const ta = el('textarea', { rows: 4, id: 'editor-text', 'aria-label': 'step text' });
      ta.value = s.text;
      const why = el('input', { id: 'editor-why', placeholder: 'Why this change? (required)', 'aria-label': 'edit rationale' });
      why.value = s.edit_rationale || '';
      const msg = el('div', { class: 'error', id: 'editor-msg', role: 'alert' });
      const onKey = (e) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); e.stopPropagation(); commitEdit(ta.value, why.value, msg); }
        else if (e.key === 'Escape') { e.preventDefault(); cancelEdit(); }
      };
      ta.addEventListener('keydown', onKey);
      why.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); e.stopPropagation(); commitEdit(ta.value, why.value, msg); } else onKey(e); });
      wrap.append(ta, why,
        el('span', { class: 'editor-buttons' },
          el('button', { type: 'button', id: 'editor-save', class: 'primary', onclick: () => commitEdit(ta.value, why.value, msg) }, 'Save step (Ctrl+Enter)'),
          el('button', { type: 'button', id: 'editor-cancel', onclick: cancelEdit }, 'Cancel (Esc)')), msg);
      setTimeout(() => ta.focus(), 0);
      return wrap;
    }

    function renderDeleteBox(i) {
      const wrap = el('div', { class: 'editor' });
      const why = el('input', { id: 'delete-why', placeholder: 'Why delete this step? (required)', 'aria-label': 'delete rationale' });
      const msg = el('div', { class: 'error', role: 'alert' });
      why.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') { e.preventDefault(); e.stopPropagation(); commitDelete(i, why.value, msg); }
        else if (e.key === 'Escape') { e.preventDefault(); editor = null; render(); }
      });
      wrap.append(why, el('span', { class: 'editor-buttons' },
        el('button', { type: 'button', id: 'delete-confirm', class: 'primary', onclick: () => commitDelete(i, why.value, msg) }, 'Delete step'),
        el('button', { type: 'button', onclick: () => { editor = null; render(); } }, 'Cancel (Esc)')), msg);
      setTimeout(() => why.focus(), 0);
      return wrap;
    }

    const minWhy = () => rubric.edit_rationale_min_chars || 5;

    function commitEdit(text, why, msg) {
      const s = body.steps[editor.i];
      text = text.trim();
      if (!text) { msg.textContent = 'A step cannot be empty; delete it instead (d).'; return; }
      const changedText = isAdded(s) || original[s.origin] !== text;
      if (changedText && why.trim().length < minWhy()) { msg.textContent = 'Give a rationale of at least ' + minWhy() + ' characters.'; return; }
      s.text = text;
      s.edit_rationale = changedText ? why.trim() : null;
      editor = null;
      changed();
      render();
    }

    function cancelEdit() {
      if (editor && editor.kind === 'add' && !body.steps[editor.i].text) {
        body.steps.splice(editor.i, 1);
        cur = Math.max(0, Math.min(cur, body.steps.length - 1));
      }
      editor = null;
      render();
    }

    function addStep(at) {
      body.steps.splice(at, 0, { origin: null, text: '', label: null, flags: [], edit_rationale: null });
      cur = at;
      editor = { i: cur, kind: 'add' };
      render();
    }

    function commitDelete(i, why, msg) {
      if (why.trim().length < minWhy()) { msg.textContent = 'Give a rationale of at least ' + minWhy() + ' characters.'; return; }
      const [s] = body.steps.splice(i, 1);
      if (!isAdded(s)) {
        body.deleted = body.deleted || [];
        body.deleted.push({ origin: s.origin, rationale: why.trim() });
      }
      editor = null;
      cur = Math.max(0, Math.min(cur, body.steps.length - 1));
      changed();
      render();
    }

    function restore(k) {
      const [d] = body.deleted.splice(k, 1);
      let at = body.steps.findIndex((s) => !isAdded(s) && s.origin > d.origin);
      if (at < 0) at = body.steps.length;
      body.steps.splice(at, 0, { origin: d.origin, text: original[d.origin], label: null, flags: [], edit_rationale: null });
      changed();
      render();
    }

    function setLabel(i, v) {
      if (!editable) return;
      body.steps[i].label = v;
      changed();
      render();
    }

    function toggleFlag(i, id) {
      if (!editable) return;
      const f = body.steps[i].flags || (body.steps[i].flags = []);
      const at = f.indexOf(id);
      if (at >= 0) f.splice(at, 1); else f.push(id);
      changed();
      render();
    }

    function renderRatings() {
      const box = $('ratings');
      box.replaceChildren();
      rubric.dimensions.forEach((d, k) => {
        const v = body.ratings[d.id];
        const current = mode === 'ratings' && k === ratingCur;
        const row = el('div', { class: 'dim' + (current ? ' current' : ''), id: 'dim-' + d.id, 'data-dimension': d.id });
        row.append(el('span', { class: 'dim-title' }, d.title));
        const buttons = el('span', { class: 'scale', role: 'group', 'aria-label': d.title });
        for (let x = d.min; x <= d.max; x++) {
          buttons.append(el('button', {
            type: 'button', class: 'rate' + (v === x ? ' on' : ''), 'aria-pressed': v === x ? 'true' : 'false',
            title: d.anchors[x - d.min], disabled: !editable,
            onclick: () => { ratingCur = k; setRating(d, x); },
          }, String(x)));
        }
        row.append(buttons, el('span', { class: 'anchor' }, v !== undefined ? d.anchors[v - d.min] : 'not rated'));
        if (current && ratingMsg) row.append(el('span', { class: 'error rating-msg', role: 'alert' }, ratingMsg));
        box.append(row);
      });
      const ta = $('rationale');
      if (document.activeElement !== ta) ta.value = body.rationale || '';
      ta.disabled = !editable;
    }

    function setRating(d, x) {
      if (!editable || x < d.min || x > d.max) return;
      ratingMsg = '';
      body.ratings[d.id] = x;
      changed();
      render();
    }

    let answerEditing = false;
    function renderAnswer() {
      const box = $('answer-box');
      if (!box) return;
      const model = S.answer || '(no final answer found)';
      box.replaceChildren(el('b', {}, 'Final answer: '));
      const corrected = body.answer !== null && body.answer !== undefined;
      if (answerEditing) {
        const input = el('input', { id: 'answer-input', 'aria-label': 'corrected final answer' });
        input.value = corrected ? body.answer : (S.answer || '');
        const commit = () => {
          const v = input.value.trim();
          if (v && v !== S.answer) body.answer = v; else delete body.answer;
          answerEditing = false;
          changed();
          render();
        };
        const cancel = () => { answerEditing = false; render(); };
        input.addEventListener('keydown', (e) => {
          if (e.key === 'Enter') { e.preventDefault(); e.stopPropagation(); commit(); }
          else if (e.key === 'Escape') { e.preventDefault(); cancel(); }
        });
        box.append(input, el('span', { class: 'editor-buttons' },
          el('button', { type: 'button', id: 'answer-save', class: 'primary', onclick: commit }, 'Save answer (Enter)'),
          el('button', { type: 'button', onclick: cancel }, 'Cancel (Esc)')));
        setTimeout(() => input.focus(), 0);
        return;
      }
      box.append(el('span', { id: 'answer', class: corrected ? 'corrected' : '' }, corrected ? body.answer : model));
      if (corrected) box.append(' ', el('small', { class: 'model-answer' }, '(corrected; the model answered ' + model + ')'));
      if (editable) {
        box.append(' ', el('button', { type: 'button', id: 'answer-correct', class: 'step-btn', onclick: () => { answerEditing = true; render(); } }, corrected ? 'Change' : 'Correct the answer'));
        if (corrected) box.append(' ', el('button', { type: 'button', id: 'answer-undo', class: 'step-btn', onclick: () => { delete body.answer; changed(); render(); } }, 'Undo correction'));
      }
    }

    function render() {
      renderSteps();
      renderRatings();
      renderAnswer();
      const c = document.getElementById('step-' + cur);
      if (c && mode === 'steps' && !editor) c.scrollIntoView({ block: 'nearest' });
    }

    function typing(t) {
      return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
    }

    /** What still stops a submit, in words, naming steps (1-based) and dimensions. */
    function problems() {
      const out = [];
      if (!body.steps.length) out.push('add at least one step (a, or “Add step”)');
      const unlabelled = body.steps.map((s, i) => (s.label === null || s.label === undefined ? i + 1 : null)).filter((x) => x !== null);
      if (unlabelled.length) out.push((unlabelled.length === 1 ? 'step ' : 'steps ') + unlabelled.join(', ') + ' ' + (unlabelled.length === 1 ? 'has' : 'have') + ' no label');
      const unrated = rubric.dimensions.filter((d) => body.ratings[d.id] === undefined).map((d) => d.title);
      if (unrated.length) out.push('rate ' + unrated.join(', '));
      const min = rubric.rationale.required ? rubric.rationale.min_chars : 0;
      if ((body.rationale || '').trim().length < min) out.push('write a rationale of at least ' + min + ' characters (t)');
      return out;
    }

    function submit() {
      if (!editable || submitting) return;
      if (conflict) { submitError('Not submitted: this draft changed in another tab or window. Reload to continue.', true); return; }
      const missing = problems();
      if (missing.length) { submitError('Not ready to submit: ' + missing.join('; ') + '.'); return; }
      $('submit-msg').textContent = '';
      const dlg = $('confirm-submit');
      dlg.returnValue = '';
      dlg.showModal();
      $('confirm-ok').focus();
    }

    async function doSubmit() {
      submitting = true;
      try {
        await save();
        if (conflict) { submitError('Not submitted: this draft changed in another tab or window. Reload to continue.', true); return; }
        setStatus('submitting…', 'dirty');
        const r = await fetch(api('/api/submit'), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
          body: JSON.stringify({ body, revision, client, seq }),
        });
        const out = await r.json().catch(() => ({ error: r.statusText }));
        if (!r.ok) {
          setStatus('not submitted', 'bad');
          if (r.status === 401) submitError('Not submitted: your session has ended. Sign in again (in another tab), then submit again; your review is kept in this browser.');
          else submitError('Not submitted: ' + out.error, r.status === 409);
          return;
        }
        dropLocal();
        pending = false;
        try { sessionStorage.setItem('cts-flash', 'Review of ' + S.trace + ' submitted (version ' + out.version + ').'); } catch (_) {}
        setStatus('submitted — opening the next trace…', 'ok');
        // Submit and next: lease the next trace and open it.
        let next = '/queue';
        try {
          const c = await fetch('/queue/claim', { method: 'POST', headers: { 'X-CSRF-Token': csrf } });
          if (c.ok && c.redirected) next = c.url;
        } catch (_) { /* the queue page offers the next one */ }
        location.href = next;
      } catch (_) {
        setStatus('offline — not submitted', 'bad');
        submitError('The server could not be reached; your review is kept in this browser. Try again.');
      } finally {
        submitting = false;
      }
    }

    $('confirm-submit').addEventListener('close', () => {
      if ($('confirm-submit').returnValue === 'ok') doSubmit();
    });

    document.addEventListener('keydown', (e) => {
      if (document.querySelector('dialog[open]')) return;
      const k = e.key;
      // Ctrl+Enter submits from anywhere but the step editor (which saves the step).
      if (k === 'Enter' && (e.ctrlKey || e.metaKey) && e.target.id !== 'editor-text' && e.target.id !== 'editor-why') { e.preventDefault(); submit(); return; }
      if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (k === '?') { e.preventDefault(); $('help').showModal(); return; }
      if (!editable && !['j', 'k', 'ArrowDown', 'ArrowUp'].includes(k)) return;
      if (mode === 'flags') {
        const n = parseInt(k, 10);
        if (n >= 1 && n <= rubric.flags.length) { e.preventDefault(); mode = 'steps'; toggleFlag(cur, rubric.flags[n - 1].id); return; }
        if (k === 'Escape' || k === 'f') { e.preventDefault(); mode = 'steps'; render(); }
        return;
      }
      if (mode === 'ratings') {
        const d = rubric.dimensions[ratingCur];
        const n = /^[0-9]$/.test(k) ? Number(k) : NaN;
        if (k === 'j' || k === 'ArrowDown') { e.preventDefault(); ratingMsg = ''; ratingCur = Math.min(ratingCur + 1, rubric.dimensions.length - 1); render(); }
        else if (k === 'k' || k === 'ArrowUp') { e.preventDefault(); ratingMsg = ''; ratingCur = Math.max(ratingCur - 1, 0); render(); }
        else if (!Number.isNaN(n)) {
          e.preventDefault();
          if (n < d.min || n > d.max) { ratingMsg = n + ' is not on the scale: press ' + d.min + '–' + d.max + ' for ' + d.title + '.'; render(); return; }
          setRating(d, n);
          if (ratingCur < rubric.dimensions.length - 1) { ratingCur++; render(); }
        }
        else if (k === 'Escape' || k === 'r') { e.preventDefault(); ratingMsg = ''; mode = 'steps'; render(); }
        else if (k === 't') { e.preventDefault(); ratingMsg = ''; mode = 'steps'; render(); $('rationale').focus(); }
        else if (k === 'S') { e.preventDefault(); submit(); }
        return;
      }
      switch (k) {
        case 'j': case 'ArrowDown': e.preventDefault(); cur = Math.min(cur + 1, body.steps.length - 1); render(); break;
        case 'k': case 'ArrowUp': e.preventDefault(); cur = Math.max(cur - 1, 0); render(); break;
        case '1': case '2': case '3': e.preventDefault(); if (body.steps.length) setLabel(cur, parseInt(k, 10) - 2); break;
        case 'f': e.preventDefault(); if (body.steps.length) { mode = 'flags'; render(); } break;
        case 'e': case 'Enter': e.preventDefault(); if (body.steps.length) { editor = { i: cur, kind: 'edit' }; render(); } break;
        case 'a': e.preventDefault(); addStep(body.steps.length ? cur + 1 : 0); break;
        case 'd': e.preventDefault(); if (body.steps.length) { editor = { i: cur, kind: 'delete' }; render(); } break;
        case 'r': e.preventDefault(); mode = 'ratings'; ratingCur = 0; render(); break;
        case 't': e.preventDefault(); $('rationale').focus(); break;
        case 'S': e.preventDefault(); submit(); break;
        default: break;
      }
    });

    $('rationale').addEventListener('input', (e) => { body.rationale = e.target.value; changed(); });
    $('rationale').addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); e.target.blur(); } });
    $('help-button').addEventListener('click', () => $('help').showModal());
    const submitButton = $('submit');
    if (submitButton) submitButton.addEventListener('click', submit);
    const addButton = $('add-step');
    if (addButton) addButton.addEventListener('click', () => addStep(body.steps.length));
    window.addEventListener('online', () => { if (pending) save(); });
    window.addEventListener('pagehide', flush);
    flushBeforeSignOut = () => { flush(); pending = false; };
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') flush(); });

    document.body.classList.add('js');
    render();
    if (pending) { setStatus('restored unsaved changes from this browser', 'dirty'); save(); }
    else setStatus(editable ? (revision ? 'draft restored' : 'new review') : 'submitted (read-only)', 'ok');
  }
})();
