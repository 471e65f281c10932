package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// decodeAll runs the decoder over b the way scanSegment does and checks the
// decoder's invariants; it is the body of the fuzz target.
func decodeAll(t *testing.T, b []byte) (recs []Record, err error) {
	d := newDecoder(bytes.NewReader(b), "fuzz", int64(len(b)), 0, false)
	prev := d.crc
	for {
		rec, err := d.next()
		if err != nil {
			var ce *CorruptError
			switch {
			case errors.Is(err, io.EOF):
			case errors.As(err, &ce):
				if ce.Offset < 0 || ce.Offset%8 != 0 || ce.Offset > int64(len(b)) || ce.Offset != d.good {
					t.Fatalf("corruption reported at offset %d (good=%d, len=%d)", ce.Offset, d.good, len(b))
				}
			default:
				t.Fatalf("in-memory decode returned a non-format error: %v", err)
			}
			if _, _, zerr := d.restIsZero(); zerr != nil {
				t.Fatalf("restIsZero: %v", zerr)
			}
			return recs, err
		}
		// The format is canonical: re-encoding a decoded record gives back
		// exactly the bytes it came from.
		want, _ := appendRecord(nil, rec.Type, prev, rec.Data)
		if rec.Type == CRCType {
			want, _ = appendRecord(nil, CRCType, rec.CRC, nil)
		}
		end := rec.Offset + int64(len(want))
		if rec.Offset%8 != 0 || end > int64(len(b)) || !bytes.Equal(b[rec.Offset:end], want) || end != d.good {
			t.Fatalf("record at %d does not re-encode to its bytes", rec.Offset)
		}
		prev = d.crc
		recs = append(recs, rec)
	}
}

func sampleLog() []byte {
	b, crc := appendRecord(nil, CRCType, 0, nil)
	b, crc = appendRecord(b, MetadataType, crc, []byte("meta"))
	b, crc = appendRecord(b, SnapshotType, crc, encodeSnapshot(Snapshot{}))
	b, crc = appendRecord(b, EntryType, crc, []byte{0x10, 0x01, 0x18, 0x01, 0x22, 0x01, 'x'})
	b, _ = appendRecord(b, StateType, crc, []byte{0x08, 0x01})
	return b
}

// FuzzDecodeRecord feeds arbitrary bytes to the decoder: it must never
// panic, allocate more than the input, or accept bytes that are not exactly
// what the encoder writes. Seeds: testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(sampleLog())
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeAll(t, b)
	})
}

func TestDecodeSampleLog(t *testing.T) {
	recs, err := decodeAll(t, sampleLog())
	if !errors.Is(err, io.EOF) || len(recs) != 5 {
		t.Fatalf("decoded %d records, err %v", len(recs), err)
	}
	want := []RecordType{CRCType, MetadataType, SnapshotType, EntryType, StateType}
	for i, r := range recs {
		if r.Type != want[i] {
			t.Fatalf("record %d: %v, want %v", i, r.Type, want[i])
		}
	}
}

func TestDecodeHugeLengthIsBounded(t *testing.T) {
	// A length word claiming 2^55 bytes must fail on the file size, not try
	// to allocate.
	b := binary.LittleEndian.AppendUint64(nil, 1<<55|uint64(frameMarker)<<56)
	b = append(b, 1, 2, 3, 4, 5, 6, 7, 8)
	_, err := decodeAll(t, b)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrUnexpectedEOF) || !ce.tearable {
		t.Fatalf("got %v", err)
	}
}

func TestLengthWordForms(t *testing.T) {
	for _, tc := range []struct {
		word uint64
		ok   bool
	}{
		{8 | 0x80<<56, true},
		{8, false},               // marker bit missing
		{9 | 0x87<<56, true},     // 9 data bytes, 7 pad
		{9 | 0x86<<56, false},    // wrong pad
		{16 | 0x88<<56, false},   // reserved bits
		{7 | 0x81<<56, false},    // shorter than a record header
		{1<<55 | 0x80<<56, true}, // well-formed; the size check catches it
		{lengthMask | 0x81<<56, true},
	} {
		if _, _, ok := decodeLengthWord(tc.word); ok != tc.ok {
			t.Errorf("decodeLengthWord(%#016x) ok=%v, want %v", tc.word, ok, tc.ok)
		}
	}
}
