package suggest

import "testing"

func TestClosest(t *testing.T) {
	keys := []string{"host", "name", "user", "port", "key", "sudo", "role"}
	flags := []string{"dry-run", "discover", "drain", "daemon-json", "max-unavailable", "mirror", "manager"}
	cases := []struct {
		word string
		in   []string
		want string
	}{
		{"hots", keys, "host"},  // swap
		{"nmae", keys, "name"},  // swap
		{"usr", keys, "user"},   // deletion
		{"prot", keys, "port"},  // swap
		{"roles", keys, "role"}, // insertion
		{"Host", keys, "host"},  // case
		{"address", keys, ""},   // nothing near
		{"dryrun", flags, "dry-run"},
		{"dry", flags, "dry-run"}, // prefix
		{"max-unavail", flags, "max-unavailable"},
		{"manger", flags, "manager"},
		{"x", flags, ""},
		{"", flags, ""},
	}
	for _, c := range cases {
		if got := Closest(c.word, c.in); got != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.word, got, c.want)
		}
	}
	if got := DidYouMean("hots", keys, "%q"); got != ` (did you mean "host"?)` {
		t.Errorf("DidYouMean = %q", got)
	}
	if got := DidYouMean("dryrun", flags, "--%s"); got != " (did you mean --dry-run?)" {
		t.Errorf("DidYouMean = %q", got)
	}
	if got := DidYouMean("host", keys, "%q"); got != "" {
		t.Errorf("exact word suggested: %q", got)
	}
}

func FuzzClosest(f *testing.F) {
	f.Add("hots", "host")
	f.Add("ünïcode", "unicode")
	f.Fuzz(func(t *testing.T, word, cand string) {
		got := Closest(word, []string{cand})
		if got != "" && got != cand {
			t.Fatalf("Closest returned %q, not a candidate", got)
		}
		if distance(word, word) != 0 || distance(word, cand) != distance(cand, word) {
			t.Fatalf("distance not a metric on %q, %q", word, cand)
		}
	})
}
