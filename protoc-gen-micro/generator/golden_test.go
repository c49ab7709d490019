package generator_test

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openmicro/protoc-gen-micro/generator"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden generates every testdata case with paths=source_relative and
// compares each file with its golden, testdata/<case>/<file>.golden. A
// case with no golden must generate nothing.
func TestGolden(t *testing.T) {
	for _, name := range caseDirs(t) {
		t.Run(name, func(t *testing.T) {
			root := filepath.Join("testdata", name)
			req := compile(t, root, protoFiles(t, root), "paths=source_relative")
			rsp, err := generator.Generate(req)
			if err != nil {
				t.Fatal(err)
			}
			got := make(map[string]string)
			for _, f := range rsp.File {
				got[f.GetName()+".golden"] = f.GetContent()
			}
			want := goldens(t, root)
			if *update {
				for name := range want {
					if _, ok := got[name]; !ok {
						if err := os.Remove(filepath.Join(root, name)); err != nil {
							t.Fatal(err)
						}
					}
				}
				for name, content := range got {
					if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			for name, content := range got {
				w, ok := want[name]
				switch {
				case !ok:
					t.Errorf("generated %s, which has no golden (run go test -update)", name)
				case w != content:
					t.Errorf("%s differs from its golden (run go test -update and read the diff):\n%s", name, firstDiff(w, content))
				}
			}
			for name := range want {
				if _, ok := got[name]; !ok {
					t.Errorf("%s was not generated", name)
				}
			}
		})
	}
}

// goldens reads the .golden files under root, by path relative to it.
func goldens(t *testing.T, root string) map[string]string {
	t.Helper()
	m := make(map[string]string)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".golden") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		m[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// firstDiff shows the first line where want and got differ.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\nwant: " + wl + "\ngot:  " + gl
		}
	}
	return "(no line differs)"
}
