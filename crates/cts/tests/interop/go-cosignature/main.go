// Command cosignature checks a CTS checkpoint carrying witness cosignatures
// with golang.org/x/mod/sumdb/note (the log's Ed25519 signature) and an
// independent C2SP tlog-cosignature v1 verifier written here on Go's
// crypto/ed25519 (the cosignatures): code that shares nothing with
// cts-witness.
//
// Usage: cosignature NOTE_FILE LOG_VKEY WITNESS_VKEY...
//
// It prints "OK ..." and exits 0 when the log and every witness signed the
// note, or prints the failure and exits 1.
//
// Build offline against the Debian package golang-golang-x-mod-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$(mktemp -d) go build -o cosignature main.go
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// cosigV1 verifies Ed25519 cosignature/v1 signatures (signature type 0x04).
type cosigV1 struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosigV1) Name() string    { return v.name }
func (v *cosigV1) KeyHash() uint32 { return v.hash }

func (v *cosigV1) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	if t > math.MaxInt64 {
		return false
	}
	m := fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, msg)
	return ed25519.Verify(v.key, []byte(m), sig[8:])
}

func parseCosigVKey(vkey string) (*cosigV1, error) {
	parts := strings.SplitN(strings.TrimSpace(vkey), "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("malformed witness vkey")
	}
	hash, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		return nil, errors.New("malformed witness key hash")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x04 {
		return nil, errors.New("not an Ed25519 cosignature/v1 key")
	}
	h := sha256.New()
	h.Write([]byte(parts[0] + "\n"))
	h.Write(raw)
	if binary.BigEndian.Uint32(h.Sum(nil)) != uint32(hash) {
		return nil, errors.New("witness key hash does not match")
	}
	return &cosigV1{name: parts[0], hash: uint32(hash), key: ed25519.PublicKey(raw[1:])}, nil
}

func run(args []string) (string, error) {
	msg, err := os.ReadFile(args[0])
	if err != nil {
		return "", err
	}
	logKey, err := os.ReadFile(args[1])
	if err != nil {
		return "", err
	}
	logV, err := note.NewVerifier(strings.TrimSpace(string(logKey)))
	if err != nil {
		return "", fmt.Errorf("log vkey: %v", err)
	}
	verifiers := []note.Verifier{logV}
	for _, f := range args[2:] {
		text, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		v, err := parseCosigVKey(string(text))
		if err != nil {
			return "", fmt.Errorf("%s: %v", f, err)
		}
		verifiers = append(verifiers, v)
	}
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		return "", fmt.Errorf("note.Open: %v", err)
	}
	for _, v := range verifiers {
		found := false
		for _, s := range n.Sigs {
			if s.Name == v.Name() && s.Hash == v.KeyHash() {
				found = true
			}
		}
		if !found {
			return "", fmt.Errorf("no valid signature from %s", v.Name())
		}
	}
	return fmt.Sprintf("OK: %d signatures verified (log and %d witnesses)", len(n.Sigs), len(args)-2), nil
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: cosignature NOTE_FILE LOG_VKEY WITNESS_VKEY...")
		os.Exit(2)
	}
	out, err := run(os.Args[1:])
	if err != nil {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}
	fmt.Println(out)
}
