package daemonjson

import (
	"os"
	"testing"
)

// BenchmarkMerge merges into a realistic production daemon.json that
// already holds other mirrors (the common re-run case does the full parse).
func BenchmarkMerge(b *testing.B) {
	in, err := os.ReadFile("testdata/in/mirrors-slash.json")
	if err != nil {
		b.Fatal(err)
	}
	logopts, err := os.ReadFile("testdata/in/pools.json")
	if err != nil {
		b.Fatal(err)
	}
	s := Settings{Mirrors: []string{"https://mirror.example.com", "http://10.0.0.5:5000"}, Experimental: ptr(true), Insecure: true}
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"existing-mirrors", in}, {"address-pools", logopts}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Merge(bc.in, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
