// Command witnessclient drives a C2SP tlog-witness with checkpoints of a
// tlog-tiles log, signed with the log's note private key, and consistency
// proofs computed by golang.org/x/mod/sumdb/tlog over the log's hash tiles:
//
//	witnessclient -witness URL -tiles URL|DIR -log-key PRIVATE+KEY+… \
//	    -witness-vkey VKEY -mode MODE -size N [-known S]
//
// Modes:
//
//	honest          cosign the checkpoint of size N (starting from -known, and
//	                following a 409 answer once); the cosignature is verified
//	                with torchwood's CosignatureVerifier
//	fork-same-size  a checkpoint of size S (-known) with another root, old S
//	fork-larger     a checkpoint of size N > S with another root, old S, the
//	                true proof
//	bad-proof       the true checkpoint of size N > S, old S, one proof hash altered
//	smaller         the true checkpoint of size N < S, old S (old > size)
//	rollback        the true checkpoint of size N < S, old N (a stale old size)
//
// One JSON object with the status of each request. Exit status 1 if an honest
// checkpoint is not cosigned (or its cosignature fails), or if a fork attempt
// is accepted.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"certlife.example/interop/internal/logview"
	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type attempt struct {
	Old         int64  `json:"old"`
	Size        int64  `json:"size"`
	ProofLen    int    `json:"proof_len"`
	Status      int    `json:"status"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body,omitempty"`
}

type output struct {
	OK          bool      `json:"ok"`
	Mode        string    `json:"mode"`
	Refused     bool      `json:"refused"`
	Attempts    []attempt `json:"attempts"`
	Cosignature string    `json:"cosignature,omitempty"`
	Timestamp   int64     `json:"timestamp,omitempty"`
	Note        string    `json:"note,omitempty"`
}

type env struct {
	ctx     context.Context
	witness string
	signer  note.Signer
	origin  string
	tree    tlog.Tree
	hr      tlog.HashReader
	out     *output
}

func main() {
	witness := flag.String("witness", "", "witness base URL (add-checkpoint is appended)")
	base := flag.String("tiles", "", "tiles base URL or directory of the log")
	skey := flag.String("log-key", "", "the log's note private key (PRIVATE+KEY+name+hash+base64)")
	wvkey := flag.String("witness-vkey", "", "the witness's cosigner vkey")
	mode := flag.String("mode", "honest", "honest|fork-same-size|fork-larger|bad-proof|smaller|rollback")
	size := flag.Int64("size", -1, "checkpoint size to submit (default: the tiles checkpoint's)")
	known := flag.Int64("known", 0, "the size the witness is believed to hold")
	flag.Parse()
	out := &output{Mode: *mode}
	err := run(out, *witness, *base, *skey, *wvkey, *mode, *size, *known)
	if err != nil {
		logview.PrintJSON(out)
		logview.Fail(err)
	}
	out.OK = true
	logview.PrintJSON(out)
}

func run(out *output, witness, base, skey, wvkey, mode string, size, known int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	signer, err := note.NewSigner(skey)
	if err != nil {
		return fmt.Errorf("log private key: %w", err)
	}
	logVerifier, err := torchwood.NewVerifierFromSigner(skey)
	if err != nil {
		return fmt.Errorf("log private key: %w", err)
	}
	tr, err := logview.Reader(base)
	if err != nil {
		return err
	}
	_, c, err := logview.FetchCheckpoint(ctx, tr, logVerifier, "")
	if err != nil {
		return err
	}
	if size < 0 {
		size = c.N
	}
	if size > c.N {
		return fmt.Errorf("size %d beyond the tiles' checkpoint %d", size, c.N)
	}
	e := &env{ctx: ctx, witness: strings.TrimSuffix(witness, "/"), signer: signer, origin: c.Origin,
		tree: c.Tree, hr: torchwood.TileHashReaderWithContext(ctx, c.Tree, tr), out: out}
	switch mode {
	case "honest":
		return e.honest(size, known, wvkey)
	case "fork-same-size":
		root, err := tlog.TreeHash(known, e.hr)
		if err != nil {
			return err
		}
		return e.refused(known, known, otherRoot(root), nil)
	case "fork-larger":
		if size <= known {
			return fmt.Errorf("fork-larger needs -size > -known")
		}
		proof, err := tlog.ProveTree(size, known, e.hr)
		if err != nil {
			return err
		}
		root, err := tlog.TreeHash(size, e.hr)
		if err != nil {
			return err
		}
		return e.refused(known, size, otherRoot(root), proof)
	case "bad-proof":
		if size <= known || known == 0 {
			return fmt.Errorf("bad-proof needs 0 < -known < -size")
		}
		proof, err := tlog.ProveTree(size, known, e.hr)
		if err != nil {
			return err
		}
		root, err := tlog.TreeHash(size, e.hr)
		if err != nil {
			return err
		}
		proof[len(proof)-1][0] ^= 1
		return e.refused(known, size, root, proof)
	case "smaller", "rollback":
		if size >= known {
			return fmt.Errorf("%s needs -size < -known", mode)
		}
		root, err := tlog.TreeHash(size, e.hr)
		if err != nil {
			return err
		}
		old := known
		if mode == "rollback" {
			old = size
		}
		return e.refused(old, size, root, nil)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func otherRoot(root tlog.Hash) tlog.Hash {
	return tlog.Hash(sha256.Sum256(append([]byte("certlife interop fork of "), root[:]...)))
}

// honest submits the true checkpoint of size, following one 409 answer.
func (e *env) honest(size, old int64, wvkey string) error {
	cv, err := logview.CosignatureVerifier(wvkey)
	if err != nil {
		return err
	}
	root, err := tlog.TreeHash(size, e.hr)
	if err != nil {
		return err
	}
	msg, err := e.sign(size, root)
	if err != nil {
		return err
	}
	for try := 0; try < 2; try++ {
		var proof tlog.TreeProof
		if old > 0 {
			if proof, err = tlog.ProveTree(size, old, e.hr); err != nil {
				return err
			}
		}
		a, err := e.post(old, size, proof, msg)
		if err != nil {
			return err
		}
		if a.Status == http.StatusConflict && try == 0 {
			if old, err = strconv.ParseInt(strings.TrimSuffix(a.Body, "\n"), 10, 64); err != nil {
				return fmt.Errorf("409 body %q: %w", a.Body, err)
			}
			if a.ContentType != "text/x.tlog.size" {
				return fmt.Errorf("409 with content type %q", a.ContentType)
			}
			continue
		}
		if a.Status != http.StatusOK {
			return fmt.Errorf("honest checkpoint of size %d refused: %d %s", size, a.Status, a.Body)
		}
		cosigned := append(append([]byte{}, msg...), a.Body...)
		n, err := note.Open(cosigned, note.VerifierList(cv))
		if err != nil {
			return fmt.Errorf("cosignature by %s: %w", cv.Name(), err)
		}
		ts, err := torchwood.CosignatureTimestamp(n.Sigs[0])
		if err != nil || ts == 0 {
			return fmt.Errorf("cosignature timestamp %d: %v", ts, err)
		}
		e.out.Cosignature = fmt.Sprintf("— %s %s\n", n.Sigs[0].Name, n.Sigs[0].Base64)
		e.out.Timestamp = ts
		e.out.Note = string(cosigned)
		return nil
	}
	return errors.New("witness answered 409 twice")
}

// refused submits a checkpoint that a witness must not cosign.
func (e *env) refused(old, size int64, root tlog.Hash, proof tlog.TreeProof) error {
	msg, err := e.sign(size, root)
	if err != nil {
		return err
	}
	a, err := e.post(old, size, proof, msg)
	if err != nil {
		return err
	}
	e.out.Refused = a.Status != http.StatusOK
	if !e.out.Refused {
		return fmt.Errorf("the witness cosigned a fork: %s", a.Body)
	}
	return nil
}

func (e *env) sign(size int64, root tlog.Hash) ([]byte, error) {
	body := torchwood.Checkpoint{Origin: e.origin, Tree: tlog.Tree{N: size, Hash: root}}.String()
	return note.Sign(&note.Note{Text: body}, e.signer)
}

func (e *env) post(old, size int64, proof tlog.TreeProof, msg []byte) (attempt, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(h[:]))
	}
	b.WriteString("\n")
	b.Write(msg)
	req, err := http.NewRequestWithContext(e.ctx, "POST", e.witness+"/add-checkpoint", &b)
	if err != nil {
		return attempt{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return attempt{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return attempt{}, err
	}
	a := attempt{Old: old, Size: size, ProofLen: len(proof), Status: resp.StatusCode,
		ContentType: resp.Header.Get("Content-Type"), Body: string(body)}
	e.out.Attempts = append(e.out.Attempts, a)
	return a, nil
}
