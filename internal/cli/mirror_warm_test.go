package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// Bad input to mirror warm and mirror prove exits 2 before any node is
// dialled, naming the image or the file:line.
func TestWarmProveBadInputExits2(t *testing.T) {
	inv := writeInventory(t, "nodes:\n  - host: 10.0.0.1\n    role: manager\nmirror:\n  url: http://10.0.0.1:5000\n")
	stack := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(stack, []byte("services:\n  web:\n    image: busybox\n  api:\n\timage: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mirror", "warm"}, "no image"},
		{[]string{"mirror", "warm", "Bad//Ref"}, `image "Bad//Ref"`},
		{[]string{"mirror", "warm", "--stack-file", stack}, stack + ":5:"},
		{[]string{"mirror", "warm", "--platform", "amd64", "busybox"}, "--platform"},
		{[]string{"mirror", "warm", "ghcr.io/acme/api:1"}, "no mirror for registry ghcr.io"},
		{[]string{"mirror", "warm", "--timeout", "0s", "busybox"}, "--timeout"},
		{[]string{"mirror", "prove", "--image", "quay.io/x/y:1"}, "no mirror for registry quay.io"},
		{[]string{"mirror", "prove", "--node-timeout", "0s"}, "--node-timeout"},
	} {
		dialled := false
		d, out, errb := testDeps(func(context.Context, nodes.Target, nodes.DialOptions) (nodes.Host, error) {
			dialled = true
			return nil, errors.New("no dialling in this test")
		})
		code := Run(context.Background(), d, append(tc.args, "-i", inv, "-o", "json"))
		var doc struct {
			Error *struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Errorf("%v: JSON: %v\n%s", tc.args, err, out)
			continue
		}
		if code != 2 || dialled || doc.Error == nil || !strings.Contains(doc.Error.Message, tc.want) {
			t.Errorf("%v: exit %d, dialled %v, error %+v (want %q)\n%s", tc.args, code, dialled, doc.Error, tc.want, errb)
		}
	}
}
