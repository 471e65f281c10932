package record

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader: any bytes either read as a recording, end in a torn-tail
// warning, or fail with a *CorruptError; the reader never panics, never
// reads records past the data, and never reports a torn tail beyond the end.
// Seeds: testdata/fuzz/FuzzReader (a real three-block recording and cuts of it).
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader("fuzz", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("header: %v is not a CorruptError", err)
			}
			return
		}
		var b Block
		total := 0
		for {
			err := rd.Next(&b)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var ce *CorruptError
				if !errors.As(err, &ce) || ce.Offset < 0 || ce.Offset >= int64(len(data)) {
					t.Fatalf("block: %v", err)
				}
				return
			}
			total += len(b.Records)
			for _, r := range b.Records {
				if !r.Boundary.Valid() || r.End < r.Start {
					t.Fatalf("invalid record accepted: %+v", r)
				}
			}
		}
		if total*RecordSize > len(data) {
			t.Fatalf("%d records from %d bytes", total, len(data))
		}
		if tt := rd.Torn(); tt != nil && (tt.Offset >= int64(len(data)) || tt.Offset < 0) {
			t.Fatalf("torn tail at %d of %d", tt.Offset, len(data))
		}
	})
}

// TestWriteFuzzSeeds rewrites the seed corpus from a fresh recording with
// -fuzzseeds (the checked-in seeds are what `go test` runs every time).
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -fuzzseeds to rewrite testdata/fuzz/FuzzReader")
	}
	data, blocks, _ := recording(t)
	seeds := map[string][]byte{
		"recording":   data,
		"cut-mid":     data[:blocks[2]+BlockHeaderSize+40],
		"cut-header":  data[:blocks[1]+20],
		"header-only": data[:blocks[0]],
		"zero-tail":   append(bytes.Clone(data[:blocks[2]]), make([]byte, 200)...),
	}
	flipped := bytes.Clone(data)
	flipped[blocks[0]+BlockHeaderSize+3] ^= 1
	seeds["mid-corrupt"] = flipped
	for name, b := range seeds {
		if err := writeSeed("FuzzReader", name, b); err != nil {
			t.Fatal(err)
		}
	}
}
