package inventory

import (
	"reflect"
	"strings"
)

// MirrorField is one setting of Mirror as its tags declare it.
type MirrorField struct {
	// Key is the inventory key under mirror: (and the name in messages:
	// mirror.<key>).
	Key string
	// Flag is the flag that overrides it ("" = none) and Usage its help,
	// which may hold {default}.
	Flag, Usage string
	// Index is the field's index in Mirror (reflect).
	Index int
}

// MirrorFields lists Mirror's settings in declaration order.
func MirrorFields() []MirrorField {
	t := reflect.TypeOf(Mirror{})
	var out []MirrorField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		out = append(out, MirrorField{Key: key, Flag: f.Tag.Get("flag"), Usage: f.Tag.Get("usage"), Index: i})
	}
	return out
}

// MirrorFlag is the flag that sets the inventory key mirror.<key> ("" when
// none does).
func MirrorFlag(key string) string {
	for _, f := range MirrorFields() {
		if f.Key == key {
			return f.Flag
		}
	}
	return ""
}
