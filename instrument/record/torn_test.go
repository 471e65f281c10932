package record

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// recording writes a real file of three blocks (three bursts, each waited
// for) and returns its bytes and the offset of each block.
func recording(t *testing.T) (data []byte, blocks []int64, perBlock []int) {
	t.Helper()
	r := openTest(t, Options{FlushInterval: time.Millisecond})
	dir := r.opts.Dir
	n := 0
	for _, burst := range []int{12, 9, 7} {
		for range burst {
			r.Record(sample(r, n))
			n++
		}
		waitWritten(t, r, uint64(n))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := Files(dir)
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader("rec", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var b Block
	for rd.Next(&b) == nil {
		blocks = append(blocks, b.Offset)
		perBlock = append(perBlock, len(b.Records))
	}
	if rd.Torn() != nil || len(blocks) < 3 {
		t.Fatalf("fresh recording: %d blocks, torn %v", len(blocks), rd.Torn())
	}
	return data, blocks, perBlock
}

// readBytes reads a whole recording from memory: records, torn warning, error.
func readBytes(data []byte) (int, *TornTail, error) {
	rd, err := NewReader("rec", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return 0, nil, err
	}
	n := 0
	var b Block
	for {
		err := rd.Next(&b)
		if errors.Is(err, io.EOF) {
			return n, rd.Torn(), nil
		}
		if err != nil {
			return n, nil, err
		}
		n += len(b.Records)
	}
}

// TestTruncatedAtEveryByteOfLastBlock: a file cut anywhere inside its last
// block (kill -9 or power loss during the write) reads every earlier record
// and reports the tail as a warning; so does the same cut followed by the
// zeros a filesystem may leave after a crash.
func TestTruncatedAtEveryByteOfLastBlock(t *testing.T) {
	data, blocks, perBlock := recording(t)
	last := blocks[len(blocks)-1]
	before := 0
	for _, n := range perBlock[:len(perBlock)-1] {
		before += n
	}
	for cut := last + 1; cut < int64(len(data)); cut++ {
		for _, padded := range []bool{false, true} {
			b := bytes.Clone(data[:cut])
			if padded {
				b = append(b, make([]byte, int64(len(data))-cut)...)
				if bytes.Equal(b, data) {
					continue // the cut removed only zero bytes: nothing was lost
				}
			}
			n, torn, err := readBytes(b)
			if err != nil {
				t.Fatalf("cut at %d (padded %v): %v", cut, padded, err)
			}
			if n != before || torn == nil || torn.Offset != last {
				t.Fatalf("cut at %d (padded %v): %d records (want %d), torn %v (want at %d)", cut, padded, n, before, torn, last)
			}
		}
	}
	// Cut exactly at a block boundary: a clean, shorter file.
	if n, torn, err := readBytes(data[:last]); err != nil || torn != nil || n != before {
		t.Fatalf("cut at the last block's start: %d records, torn %v, %v", n, torn, err)
	}
	// Zeros after complete blocks are a torn (never written) tail too.
	if n, torn, err := readBytes(append(bytes.Clone(data), make([]byte, 4096)...)); err != nil || torn == nil || n != before+perBlock[len(perBlock)-1] {
		t.Fatalf("zeros after the last block: %d records, torn %v, %v", n, torn, err)
	}
}

// TestMidFileCorruptionIsRefused: damage followed by more blocks is not a
// torn tail: the reader fails naming the file and the block's offset.
func TestMidFileCorruptionIsRefused(t *testing.T) {
	data, blocks, _ := recording(t)
	for name, at := range map[string]int64{
		"record byte":  blocks[0] + BlockHeaderSize + 30,
		"header count": blocks[1] + 8,
		"crc":          blocks[1] + 4,
	} {
		b := bytes.Clone(data)
		b[at] ^= 0x40
		_, _, err := readBytes(b)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.File != "rec" {
			t.Fatalf("%s flipped: got %v, want a CorruptError", name, err)
		}
		want := blocks[0]
		if at >= blocks[1] {
			want = blocks[1]
		}
		if ce.Offset != want {
			t.Fatalf("%s flipped: error at offset %d, want the block at %d: %v", name, ce.Offset, want, err)
		}
	}
}
