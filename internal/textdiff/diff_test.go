package textdiff

import (
	"strings"
	"testing"
)

func TestUnified(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		context  int
		want     string
	}{
		{name: "equal", old: "{}\n", new: "{}\n", context: 3, want: ""},
		{name: "both empty", old: "", new: "", context: 3, want: ""},
		{
			name: "added key", context: 3,
			old:  "{\n  \"a\": 1\n}\n",
			new:  "{\n  \"a\": 1,\n  \"b\": 2\n}\n",
			want: "--- old\n+++ new\n@@ -1,3 +1,4 @@\n {\n-  \"a\": 1\n+  \"a\": 1,\n+  \"b\": 2\n }\n",
		},
		{
			name: "from nothing", context: 3,
			old: "", new: "{}\n",
			want: "--- old\n+++ new\n@@ -0,0 +1 @@\n+{}\n",
		},
		{
			name: "only the final newline differs", context: 3,
			old: "{}", new: "{}\n",
			want: "--- old\n+++ new\n@@ -1 +1 @@\n-{}\n\\ No newline at end of file\n+{}\n",
		},
		{
			name: "context limits the hunk", context: 1,
			old:  "1\n2\n3\n4\n5\n6\n7\n",
			new:  "1\n2\n3\nX\n5\n6\n7\n",
			want: "--- old\n+++ new\n@@ -3,3 +3,3 @@\n 3\n-4\n+X\n 5\n",
		},
		{
			name: "negative context means 3", context: -1,
			old:  "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
			new:  "1\n2\n3\n4\nX\n6\n7\n8\n9\n",
			want: "--- old\n+++ new\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n",
		},
		{
			name: "crlf kept", context: 0,
			old: "{\r\n}\r\n", new: "{\r\n  \"a\": 1\r\n}\r\n",
			want: "--- old\n+++ new\n@@ -1,0 +2 @@\n+  \"a\": 1\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Unified("old", "new", []byte(tt.old), []byte(tt.new), tt.context)
			if got != tt.want {
				t.Errorf("Unified() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestUnifiedNames(t *testing.T) {
	got := Unified("/etc/docker/daemon.json", "/etc/docker/daemon.json (swarmctl)", []byte("a\n"), []byte("b\n"), 3)
	if !strings.HasPrefix(got, "--- /etc/docker/daemon.json\n+++ /etc/docker/daemon.json (swarmctl)\n") {
		t.Errorf("header wrong:\n%s", got)
	}
}
