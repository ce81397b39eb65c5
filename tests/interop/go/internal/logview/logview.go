// Package logview reads a C2SP tlog-tiles log (over HTTP or from a directory)
// and verifies its checkpoint with golang.org/x/mod/sumdb/note: the part the
// interop programs share.
package logview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// DirReader is a torchwood.TileReader over a local tlog-tiles directory.
type DirReader struct{ Dir string }

// ReadTiles implements torchwood.TileReader.
func (d DirReader) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := d.ReadEndpoint(ctx, torchwood.TilePath(t))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

// SaveTiles implements torchwood.TileReader; it keeps nothing.
func (d DirReader) SaveTiles([]tlog.Tile, [][]byte) {}

// ReadEndpoint implements torchwood.TileReader.
func (d DirReader) ReadEndpoint(_ context.Context, path string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.Dir, filepath.FromSlash(path)))
}

// Reader returns a tile reader for an http(s) base URL or a directory.
func Reader(base string) (torchwood.TileReader, error) {
	if strings.HasPrefix(base, "http://") || strings.HasPrefix(base, "https://") {
		return torchwood.NewTileFetcher(base)
	}
	return DirReader{Dir: base}, nil
}

// OpenCheckpoint verifies a signed checkpoint note with the verifier and
// checks its origin (empty origin: the verifier's name).
func OpenCheckpoint(msg []byte, v note.Verifier, origin string) (*note.Note, torchwood.Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return nil, torchwood.Checkpoint{}, fmt.Errorf("checkpoint note: %w", err)
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, torchwood.Checkpoint{}, fmt.Errorf("checkpoint body: %w", err)
	}
	if origin == "" {
		origin = v.Name()
	}
	if c.Origin != origin {
		return nil, torchwood.Checkpoint{}, fmt.Errorf("checkpoint origin %q, want %q", c.Origin, origin)
	}
	return n, c, nil
}

// FetchCheckpoint reads "checkpoint" from the tiles and verifies it.
func FetchCheckpoint(ctx context.Context, tr torchwood.TileReader, v note.Verifier, origin string) (*note.Note, torchwood.Checkpoint, error) {
	msg, err := tr.ReadEndpoint(ctx, "checkpoint")
	if err != nil {
		return nil, torchwood.Checkpoint{}, fmt.Errorf("reading checkpoint: %w", err)
	}
	return OpenCheckpoint(msg, v, origin)
}

// PrintJSON writes v as one JSON line to stdout.
func PrintJSON(v any) {
	out, err := json.Marshal(v)
	if err != nil {
		Fail(err)
	}
	fmt.Println(string(out))
}

// Fail prints an error as JSON to stdout and exits 1.
func Fail(err error) {
	if err == nil {
		err = errors.New("unknown error")
	}
	out, _ := json.Marshal(map[string]any{"ok": false, "error": err.Error()})
	fmt.Println(string(out))
	os.Exit(1)
}
