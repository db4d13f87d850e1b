// Command interop checks CTS checkpoints and proofs with golang.org/x/mod/sumdb
// (note and tlog), an implementation that shares no code with cts-ledger.
//
// Usage: interop INPUT.json, where INPUT.json is
//
//	{"vkey": "origin+keyid+base64",
//	 "checkpoint": "<signed checkpoint note>",
//	 "inclusion": [{"index": N, "entry_b64": "...", "proof": ["base64 hash", ...]}],
//	 "consistency": {"old_size": A, "old_root": "base64", "proof": ["base64 hash", ...]}}
//
// It prints "OK ..." and exits 0 when everything verifies, or prints the first
// failure and exits 1.
//
// Build offline against the Debian package golang-golang-x-mod-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$(mktemp -d) go build -o interop main.go
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type input struct {
	VKey        string       `json:"vkey"`
	Checkpoint  string       `json:"checkpoint"`
	Inclusion   []inclusion  `json:"inclusion"`
	Consistency *consistency `json:"consistency"`
}

type inclusion struct {
	Index    int64    `json:"index"`
	EntryB64 string   `json:"entry_b64"`
	Proof    []string `json:"proof"`
}

type consistency struct {
	OldSize int64    `json:"old_size"`
	OldRoot string   `json:"old_root"`
	Proof   []string `json:"proof"`
}

// checkpoint is the body of a C2SP tlog-checkpoint.
type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: interop INPUT.json")
		os.Exit(2)
	}
	summary, err := run(os.Args[1])
	if err != nil {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("OK", summary)
}

func run(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var in input
	if err := json.Unmarshal(data, &in); err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}

	verifier, err := note.NewVerifier(in.VKey)
	if err != nil {
		return "", fmt.Errorf("verifier key: %v", err)
	}
	n, err := note.Open([]byte(in.Checkpoint), note.VerifierList(verifier))
	if err != nil {
		return "", fmt.Errorf("checkpoint note: %v", err)
	}
	cp, err := parseCheckpoint(n.Text)
	if err != nil {
		return "", err
	}
	if cp.origin != verifier.Name() {
		return "", fmt.Errorf("checkpoint origin %q is not the key's name %q", cp.origin, verifier.Name())
	}

	for _, inc := range in.Inclusion {
		entry, err := base64.StdEncoding.DecodeString(inc.EntryB64)
		if err != nil {
			return "", fmt.Errorf("leaf %d: entry: %v", inc.Index, err)
		}
		proof, err := parseHashes(inc.Proof)
		if err != nil {
			return "", fmt.Errorf("leaf %d: %v", inc.Index, err)
		}
		if err := tlog.CheckRecord(proof, cp.size, cp.root, inc.Index, tlog.RecordHash(entry)); err != nil {
			return "", fmt.Errorf("leaf %d in tree of size %d: %v", inc.Index, cp.size, err)
		}
	}

	summary := fmt.Sprintf("checkpoint %s size %d; %d inclusion proofs", cp.origin, cp.size, len(in.Inclusion))
	if c := in.Consistency; c != nil {
		oldRoot, err := tlog.ParseHash(c.OldRoot)
		if err != nil {
			return "", fmt.Errorf("consistency: old root: %v", err)
		}
		proof, err := parseHashes(c.Proof)
		if err != nil {
			return "", fmt.Errorf("consistency: %v", err)
		}
		if err := tlog.CheckTree(proof, cp.size, cp.root, c.OldSize, oldRoot); err != nil {
			return "", fmt.Errorf("consistency %d -> %d: %v", c.OldSize, cp.size, err)
		}
		summary += fmt.Sprintf("; consistent with size %d", c.OldSize)
	}
	return summary, nil
}

// parseCheckpoint reads origin, size and root; extension lines are allowed and ignored.
func parseCheckpoint(text string) (checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return checkpoint{}, errors.New("checkpoint: want origin, size and root lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return checkpoint{}, fmt.Errorf("checkpoint: bad size line %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint: bad root line %q: %v", lines[2], err)
	}
	return checkpoint{origin: lines[0], size: size, root: root}, nil
}

func parseHashes(lines []string) ([]tlog.Hash, error) {
	hashes := make([]tlog.Hash, len(lines))
	for i, s := range lines {
		h, err := tlog.ParseHash(s)
		if err != nil {
			return nil, fmt.Errorf("proof hash %d: %v", i, err)
		}
		hashes[i] = h
	}
	return hashes, nil
}
