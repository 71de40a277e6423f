package daemonjson

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestMergeChanges(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		s          Settings
		want       string
		changes    []Change
		reloadOnly bool
	}{
		{
			name: "new mirror is reload only",
			in:   "{\n  \"experimental\": true\n}\n",
			s:    Settings{Mirrors: []string{"https://m.example.com"}, Experimental: ptr(true)},
			want: "{\n  \"experimental\": true,\n  \"registry-mirrors\": [\"https://m.example.com/\"]\n}\n",
			changes: []Change{
				{Key: "registry-mirrors", Action: "set", Value: `["https://m.example.com/"]`},
			},
			reloadOnly: true,
		},
		{
			name: "experimental flip needs a restart",
			in:   "{\"experimental\": false, \"registry-mirrors\": [\"https://m.example.com/\"]}",
			s:    Settings{Mirrors: []string{"https://m.example.com"}, Experimental: ptr(true)},
			want: "{\"experimental\": true, \"registry-mirrors\": [\"https://m.example.com/\"]}",
			changes: []Change{
				{Key: "experimental", Action: "set", Value: "true", Old: "false"},
			},
		},
		{
			name: "ours first, existing kept, duplicates of ours dropped",
			in:   `{"registry-mirrors": ["https://a.example.org", "https://m.example.com", "https://M.example.com:443/"]}`,
			s:    Settings{Mirrors: []string{"https://m.example.com/", "http://b.example.org:5000"}},
			want: `{"registry-mirrors": ["https://m.example.com", "http://b.example.org:5000/", "https://a.example.org"]}`,
			changes: []Change{
				{Key: "registry-mirrors", Action: "add", Value: `"http://b.example.org:5000/"`},
				{Key: "registry-mirrors", Action: "remove", Value: `"https://M.example.com:443/"`},
			},
			reloadOnly: true,
		},
		{
			name: "only the order changes",
			in:   `{"registry-mirrors": ["https://a.example.org/", "https://m.example.com/"]}`,
			s:    Settings{Mirrors: []string{"https://m.example.com"}},
			want: `{"registry-mirrors": ["https://m.example.com/", "https://a.example.org/"]}`,
			changes: []Change{{Key: "registry-mirrors", Action: "set",
				Value: `["https://m.example.com/","https://a.example.org/"]`,
				Old:   `["https://a.example.org/","https://m.example.com/"]`}},
			reloadOnly: true,
		},
		{
			name: "a matching spelling dockerd refuses is replaced",
			in:   `{"registry-mirrors": ["https://m.example.com/?x"]}`,
			s:    Settings{Mirrors: []string{"https://m.example.com"}},
			want: `{"registry-mirrors": ["https://m.example.com/"]}`,
			changes: []Change{
				{Key: "registry-mirrors", Action: "add", Value: `"https://m.example.com/"`},
				{Key: "registry-mirrors", Action: "remove", Value: `"https://m.example.com/?x"`},
			},
			reloadOnly: true,
		},
		{
			name: "remove leaves [] and keeps experimental",
			in:   "{\n  \"experimental\": true,\n  \"registry-mirrors\": [\n    \"https://m.example.com\"\n  ],\n  \"insecure-registries\": [\"M.example.com\", \"10.1.1.1:5000\"]\n}\n",
			s:    Settings{Mirrors: []string{"https://m.example.com/"}, Insecure: true, Remove: true},
			want: "{\n  \"experimental\": true,\n  \"registry-mirrors\": [],\n  \"insecure-registries\": [\"10.1.1.1:5000\"]\n}\n",
			changes: []Change{
				{Key: "registry-mirrors", Action: "remove", Value: `"https://m.example.com"`},
				{Key: "insecure-registries", Action: "remove", Value: `"M.example.com"`},
			},
			reloadOnly: true,
		},
		{
			name: "remove without insecure leaves insecure-registries",
			in:   `{"registry-mirrors": ["https://m.example.com"], "insecure-registries": ["m.example.com"]}`,
			s:    Settings{Mirrors: []string{"https://m.example.com/"}, Remove: true, Experimental: ptr(false)},
			want: `{"registry-mirrors": [], "insecure-registries": ["m.example.com"], "experimental": false}`,
			changes: []Change{
				{Key: "experimental", Action: "set", Value: "false"},
				{Key: "registry-mirrors", Action: "remove", Value: `"https://m.example.com"`},
			},
		},
		{
			name: "insecure appends the host only",
			in:   `{"insecure-registries": ["10.0.0.0/8"]}`,
			s:    Settings{Mirrors: []string{"http://10.0.0.5:5000"}, Insecure: true},
			want: `{"insecure-registries": ["10.0.0.0/8", "10.0.0.5:5000"], "registry-mirrors": ["http://10.0.0.5:5000/"]}`,
			changes: []Change{
				{Key: "registry-mirrors", Action: "set", Value: `["http://10.0.0.5:5000/"]`},
				{Key: "insecure-registries", Action: "add", Value: `"10.0.0.5:5000"`},
			},
			reloadOnly: true,
		},
		{
			name: "bom stripped when the file changes",
			in:   "\xef\xbb\xbf{\"debug\": true}\n",
			s:    Settings{Mirrors: []string{"https://m.example.com"}},
			want: "{\"debug\": true, \"registry-mirrors\": [\"https://m.example.com/\"]}\n",
			changes: []Change{
				{Key: "registry-mirrors", Action: "set", Value: `["https://m.example.com/"]`},
			},
			reloadOnly: true,
		},
		{
			name: "last member on the closing line",
			in:   "{\n  \"debug\": true}",
			s:    Settings{Experimental: ptr(true)},
			want: "{\n  \"debug\": true,\n  \"experimental\": true}",
			changes: []Change{
				{Key: "experimental", Action: "set", Value: "true"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Merge([]byte(tt.in), tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Bytes) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", res.Bytes, tt.want)
			}
			if !reflect.DeepEqual(res.Changes, tt.changes) {
				t.Errorf("changes %+v\nwant %+v", res.Changes, tt.changes)
			}
			if !res.Changed || res.ReloadOnly != tt.reloadOnly {
				t.Errorf("Changed=%v ReloadOnly=%v, want true %v", res.Changed, res.ReloadOnly, tt.reloadOnly)
			}
		})
	}
}

func TestMergeUnchanged(t *testing.T) {
	tests := []struct {
		in string
		s  Settings
	}{
		{"\xef\xbb\xbf{\"registry-mirrors\": [\"https://m.example.com\"]}", Settings{Mirrors: []string{"https://m.example.com/"}}},
		{`{"registry-mirrors": ["https://M.example.com:443", "https://a.example.org"], "experimental": true}`,
			Settings{Mirrors: []string{"https://m.example.com"}, Experimental: ptr(true)}},
		{`{"debug": true}`, Settings{Mirrors: []string{"https://m.example.com"}, Remove: true, Insecure: true}},
		{``, Settings{Mirrors: []string{"https://m.example.com"}, Remove: true}},
		{`{"debug": true}`, Settings{}},
	}
	for _, tt := range tests {
		res, err := Merge([]byte(tt.in), tt.s)
		if err != nil || res.Changed || res.Changes != nil || res.ReloadOnly || !bytes.Equal(res.Bytes, []byte(tt.in)) {
			t.Errorf("Merge(%q) = %+v, %v; want unchanged", tt.in, res, err)
		}
	}
}

func TestMergeRejectsBadMirror(t *testing.T) {
	_, err := Merge([]byte(`{}`), Settings{Mirrors: []string{"https://m.example.com", "m2.example.com"}})
	var me *MirrorError
	if !errors.As(err, &me) || me.URL != "m2.example.com" {
		t.Fatalf("err = %v, want a MirrorError for m2.example.com", err)
	}
}

func TestRead(t *testing.T) {
	in := []byte("{\"registry-mirrors\": [\"https://a/\", \"http://b:5000\"], \"experimental\": false}")
	ms, err := ReadMirrors(in)
	if err != nil || !reflect.DeepEqual(ms, []string{"https://a/", "http://b:5000"}) {
		t.Errorf("ReadMirrors = %q, %v", ms, err)
	}
	v, present, err := ReadExperimental(in)
	if err != nil || v || !present {
		t.Errorf("ReadExperimental = %v %v %v", v, present, err)
	}
	for _, in := range []string{"", "{}", "  \n"} {
		ms, err := ReadMirrors([]byte(in))
		v, present, err2 := ReadExperimental([]byte(in))
		if ms != nil || err != nil || v || present || err2 != nil {
			t.Errorf("%q: mirrors %q %v, experimental %v %v %v", in, ms, err, v, present, err2)
		}
	}
	if ms, err := ReadMirrors([]byte(`{"registry-mirrors": []}`)); err != nil || ms == nil || len(ms) != 0 {
		t.Errorf("empty list: %#v %v", ms, err)
	}
	if v, present, err := ReadExperimental([]byte(`{"experimental": true}`)); !v || !present || err != nil {
		t.Errorf("true: %v %v %v", v, present, err)
	}
}
