package field

import "testing"

func TestRoundTripAndRefusals(t *testing.T) {
	p := AppendString(nil, "sid")
	p = AppendUvarint(p, 7)
	p = AppendVarint(p, -3)
	p = AppendString(p, "")
	r := NewReader(p)
	if s, u, v, e := r.String(), r.Uvarint(), r.Varint(), r.String(); s != "sid" || u != 7 || v != -3 || e != "" || !r.Done() {
		t.Fatalf("read back %q %d %d %q done=%v", s, u, v, e, r.Done())
	}
	// A length past the end, a truncated varint and trailing bytes all fail.
	for name, bad := range map[string][]byte{
		"length past the end": {5, 'a', 'b'},
		"truncated varint":    {0x80},
	} {
		r := NewReader(bad)
		if _ = r.String(); r.Done() {
			t.Errorf("%s: Done after a bad read", name)
		}
	}
	r = NewReader(append(AppendString(nil, "a"), 0))
	if _ = r.String(); r.Done() {
		t.Error("trailing data: Done")
	}
}
