// Package field is the length-prefixed binary encoding that Latchkey's own opaque values use
// (refresh-token payloads, WebAuthn ceremony state): each string is its uvarint length and its
// bytes, numbers are varints. A Reader refuses anything that does not decode exactly.
package field

import "encoding/binary"

// AppendString appends s to p, prefixed with its length.
func AppendString(p []byte, s string) []byte {
	p = binary.AppendUvarint(p, uint64(len(s)))
	return append(p, s...)
}

// AppendUvarint appends v to p.
func AppendUvarint(p []byte, v uint64) []byte { return binary.AppendUvarint(p, v) }

// AppendVarint appends v to p.
func AppendVarint(p []byte, v int64) []byte { return binary.AppendVarint(p, v) }

// Reader reads fields back in the order they were appended. The first malformed field makes
// every later read return the zero value and Done report false, so a caller reads all its
// fields and checks once.
type Reader struct {
	p  []byte
	ok bool
}

// NewReader returns a Reader of p.
func NewReader(p []byte) *Reader { return &Reader{p: p, ok: true} }

// String reads a length-prefixed string.
func (r *Reader) String() string {
	n := r.Uvarint()
	if !r.ok || n > uint64(len(r.p)) {
		r.ok = false
		return ""
	}
	s := string(r.p[:n])
	r.p = r.p[n:]
	return s
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if !r.ok {
		return 0
	}
	v, n := binary.Uvarint(r.p)
	if n <= 0 {
		r.ok = false
		return 0
	}
	r.p = r.p[n:]
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	if !r.ok {
		return 0
	}
	v, n := binary.Varint(r.p)
	if n <= 0 {
		r.ok = false
		return 0
	}
	r.p = r.p[n:]
	return v
}

// Done reports whether every read so far succeeded and nothing is left over.
func (r *Reader) Done() bool { return r.ok && len(r.p) == 0 }
