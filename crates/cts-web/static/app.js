// CTS review page: keyboard-first step labelling, inline editing with a
// word-level diff, and autosave that survives reloads and lost connections.
// Every rule that matters is checked again on the server; this script only
// makes the work fast. No framework, no requests outside this server.
(() => {
  'use strict';
  const stateEl = document.getElementById('review-state');
  if (!stateEl) return;
  const S = JSON.parse(stateEl.textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const rubric = S.rubric;
  const original = S.original;
  const editable = S.editing;
  const storeKey = 'cts-draft:' + S.trace;
  const api = (path) => path + '?trace=' + encodeURIComponent(S.trace);

  let body = S.body;
  let revision = S.revision;
  let cur = 0;            // current step
  let mode = 'steps';     // steps | flags | ratings
  let ratingCur = 0;
  let editor = null;      // {i, kind: 'edit' | 'add' | 'delete'}
  let saveTimer = null;
  let saving = null;
  let pending = false;
  let conflict = false;

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

  // A copy in localStorage that the server has not acknowledged wins over
  // the server's draft when it was made from the same revision.
  if (editable) {
    try {
      const local = JSON.parse(localStorage.getItem(storeKey) || 'null');
      if (local && local.base === revision && local.body) {
        body = local.body;
        pending = true;
      }
    } catch (_) { /* unreadable local copy: ignore */ }
  }

  function setStatus(text, cls) {
    const s = $('save-status');
    s.textContent = text;
    s.className = 'save-status ' + (cls || '');
  }

  function showBanner(text) {
    const b = $('banner');
    b.textContent = text;
    b.hidden = !text;
  }

  function changed() {
    if (!editable) return;
    pending = true;
    try { localStorage.setItem(storeKey, JSON.stringify({ base: revision, body })); } catch (_) {}
    setStatus('unsaved changes…', 'dirty');
    clearTimeout(saveTimer);
    saveTimer = setTimeout(save, 600);
  }

  async function save() {
    if (!editable || conflict || !pending) return;
    if (saving) { await saving; if (!pending) return; }
    clearTimeout(saveTimer);
    const sent = JSON.stringify({ body, revision });
    pending = false;
    saving = (async () => {
      try {
        const r = await fetch(api('/api/draft'), {
          method: 'PUT',
          headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
          body: sent,
        });
        if (r.ok) {
          revision = (await r.json()).revision;
          if (!pending) { try { localStorage.removeItem(storeKey); } catch (_) {} setStatus('draft saved', 'ok'); }
          else { try { localStorage.setItem(storeKey, JSON.stringify({ base: revision, body })); } catch (_) {} }
        } else if (r.status === 409) {
          conflict = true;
          setStatus('conflict', 'bad');
          showBanner('This draft was changed in another tab or window. Reload to continue from the saved version (your unsaved text here is kept in this tab until you reload).');
        } else {
          const err = await r.json().catch(() => ({ error: r.statusText }));
          pending = true;
          setStatus('not saved', 'bad');
          showBanner('Draft not saved: ' + err.error);
        }
      } catch (_) {
        pending = true;
        setStatus('offline — kept in this browser, retrying', 'bad');
        saveTimer = setTimeout(save, 3000);
      }
    })();
    await saving;
    saving = null;
    if (pending && !conflict) { clearTimeout(saveTimer); saveTimer = setTimeout(save, 600); }
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

  function isEdited(s) {
    return s.origin === null || s.origin === undefined || original[s.origin] !== s.text;
  }

  const LABELS = [[-1, '−1', 'neg'], [0, '0', 'neu'], [1, '+1', 'pos']];

  function renderSteps() {
    const ol = $('steps');
    ol.replaceChildren();
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
      const head = el('div', { class: 'step-head' }, el('span', { class: 'num' }, String(i + 1)), labels,
        s.origin === null || s.origin === undefined ? el('span', { class: 'tag added' }, 'added') : (isEdited(s) ? el('span', { class: 'tag edited' }, 'edited') : null));
      li.append(head);
      if (editor && editor.i === i && editor.kind !== 'delete') {
        li.append(renderEditor(s));
      } else {
        const text = el('div', { class: 'text' });
        if (s.origin !== null && s.origin !== undefined && isEdited(s)) {
          text.textContent = s.text;
          diffOf(original[s.origin], s.text).then((ops) => {
            if (!ops) return;
            text.replaceChildren(...ops.map((o) => el(o.op === 'equal' ? 'span' : (o.op === 'delete' ? 'del' : 'ins'), {}, o.text)));
            text.classList.add('diff');
          });
        } else {
          text.textContent = s.text;
        }
        li.append(text);
        if (isEdited(s) && s.edit_rationale) li.append(el('div', { class: 'why' }, 'Why: ' + s.edit_rationale));
      }
      if (editor && editor.i === i && editor.kind === 'delete') li.append(renderDeleteBox(i));
      const flags = el('div', { class: 'flags' + (mode === 'flags' && i === cur ? ' picking' : '') });
      rubric.flags.forEach((f, k) => {
        const id = 'flag-' + i + '-' + f.id;
        const box = el('input', { type: 'checkbox', id, disabled: !editable, 'data-flag': f.id });
        box.checked = (s.flags || []).includes(f.id);
        box.addEventListener('change', () => toggleFlag(i, f.id));
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
        editable ? el('button', { type: 'button', onclick: () => restore(k) }, 'restore') : null)));
      ol.append(box);
    }
  }

  function renderEditor(s) {
    const wrap = el('div', { class: 'editor' });
    const ta = el('textarea', { rows: 4, id: 'editor-text', 'aria-label': 'step text' });
    ta.value = s.text;
    const why = el('input', { id: 'editor-why', placeholder: 'Why this change? (required)', 'aria-label': 'edit rationale' });
    why.value = s.edit_rationale || '';
    const msg = el('div', { class: 'error', id: 'editor-msg' });
    const onKey = (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); commitEdit(ta.value, why.value, msg); }
      else if (e.key === 'Escape') { e.preventDefault(); cancelEdit(); }
    };
    ta.addEventListener('keydown', onKey);
    why.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); commitEdit(ta.value, why.value, msg); } else onKey(e); });
    wrap.append(ta, why,
      el('button', { type: 'button', id: 'editor-save', onclick: () => commitEdit(ta.value, why.value, msg) }, 'Save (Ctrl+Enter)'),
      el('button', { type: 'button', onclick: cancelEdit }, 'Cancel (Esc)'), msg);
    setTimeout(() => ta.focus(), 0);
    return wrap;
  }

  function renderDeleteBox(i) {
    const wrap = el('div', { class: 'editor' });
    const why = el('input', { id: 'delete-why', placeholder: 'Why delete this step? (required)', 'aria-label': 'delete rationale' });
    const msg = el('div', { class: 'error' });
    why.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); commitDelete(i, why.value, msg); }
      else if (e.key === 'Escape') { e.preventDefault(); editor = null; render(); }
    });
    wrap.append(why, el('button', { type: 'button', onclick: () => commitDelete(i, why.value, msg) }, 'Delete step'));
    setTimeout(() => why.focus(), 0);
    return wrap;
  }

  const minWhy = () => rubric.edit_rationale_min_chars || 5;

  function commitEdit(text, why, msg) {
    const s = body.steps[editor.i];
    text = text.trim();
    if (!text) { msg.textContent = 'A step cannot be empty; delete it instead (d).'; return; }
    const changedText = s.origin === null || s.origin === undefined || original[s.origin] !== text;
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

  function commitDelete(i, why, msg) {
    if (why.trim().length < minWhy()) { msg.textContent = 'Give a rationale of at least ' + minWhy() + ' characters.'; return; }
    const [s] = body.steps.splice(i, 1);
    if (s.origin !== null && s.origin !== undefined) {
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
    let at = body.steps.findIndex((s) => s.origin !== null && s.origin !== undefined && s.origin > d.origin);
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
      const row = el('div', { class: 'dim' + (mode === 'ratings' && k === ratingCur ? ' current' : ''), id: 'dim-' + d.id, 'data-dimension': d.id });
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
      box.append(row);
    });
    const ta = $('rationale');
    if (document.activeElement !== ta) ta.value = body.rationale || '';
    ta.disabled = !editable;
  }

  function setRating(d, x) {
    if (!editable || x < d.min || x > d.max) return;
    body.ratings[d.id] = x;
    changed();
    render();
  }

  function render() {
    renderSteps();
    renderRatings();
    const c = document.getElementById('step-' + cur);
    if (c && mode === 'steps' && !editor) c.scrollIntoView({ block: 'nearest' });
  }

  function typing(t) {
    return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
  }

  async function submit() {
    if (!editable) return;
    const dlg = $('confirm-submit');
    dlg.returnValue = '';
    dlg.showModal();
    dlg.addEventListener('close', async function onClose() {
      dlg.removeEventListener('close', onClose);
      if (dlg.returnValue !== 'ok') return;
      await save();
      if (conflict) return;
      setStatus('submitting…', 'dirty');
      try {
        const r = await fetch(api('/api/submit'), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
          body: JSON.stringify({ body, revision }),
        });
        const out = await r.json().catch(() => ({ error: r.statusText }));
        if (r.ok) {
          try { localStorage.removeItem(storeKey); } catch (_) {}
          location.href = '/history?trace=' + encodeURIComponent(S.trace) + '&submitted=' + out.version;
        } else {
          setStatus('not submitted', 'bad');
          showBanner('Not submitted: ' + out.error);
        }
      } catch (_) {
        setStatus('offline — not submitted', 'bad');
        showBanner('The server could not be reached; your draft is kept in this browser. Try again.');
      }
    });
  }

  document.addEventListener('keydown', (e) => {
    if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (document.querySelector('dialog[open]')) return;
    const k = e.key;
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
      const n = parseInt(k, 10);
      if (k === 'j' || k === 'ArrowDown') { e.preventDefault(); ratingCur = Math.min(ratingCur + 1, rubric.dimensions.length - 1); render(); }
      else if (k === 'k' || k === 'ArrowUp') { e.preventDefault(); ratingCur = Math.max(ratingCur - 1, 0); render(); }
      else if (!Number.isNaN(n)) { e.preventDefault(); setRating(d, n); if (ratingCur < rubric.dimensions.length - 1) { ratingCur++; render(); } }
      else if (k === 'Escape' || k === 'r') { e.preventDefault(); mode = 'steps'; render(); }
      else if (k === 't') { e.preventDefault(); mode = 'steps'; render(); $('rationale').focus(); }
      else if (k === 'S') { e.preventDefault(); submit(); }
      return;
    }
    switch (k) {
      case 'j': case 'ArrowDown': e.preventDefault(); cur = Math.min(cur + 1, body.steps.length - 1); render(); break;
      case 'k': case 'ArrowUp': e.preventDefault(); cur = Math.max(cur - 1, 0); render(); break;
      case '1': case '2': case '3': e.preventDefault(); if (body.steps.length) setLabel(cur, parseInt(k, 10) - 2); break;
      case 'f': e.preventDefault(); if (body.steps.length) { mode = 'flags'; render(); } break;
      case 'e': case 'Enter': e.preventDefault(); if (body.steps.length) { editor = { i: cur, kind: 'edit' }; render(); } break;
      case 'a': e.preventDefault();
        body.steps.splice(cur + 1, 0, { origin: null, text: '', label: null, flags: [], edit_rationale: null });
        cur = body.steps.length === 1 ? 0 : cur + 1; editor = { i: cur, kind: 'add' }; render(); break;
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
  window.addEventListener('online', () => { if (pending) save(); });
  // Flush on leaving; the local copy covers the case where this fails.
  window.addEventListener('pagehide', () => {
    if (pending && !conflict) {
      fetch(api('/api/draft'), { method: 'PUT', keepalive: true, headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ body, revision }) }).catch(() => {});
    }
  });

  render();
  if (pending) { setStatus('restored unsaved changes from this browser', 'dirty'); save(); }
  else setStatus(editable ? (revision ? 'draft restored' : 'new review') : 'submitted (read-only)', 'ok');
})();
