package activities

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOneWriterOfTheOrdersRow keeps orderrows.go the only code that writes the orders read
// model: a second writer elsewhere (the API once had one) would need the seq guard and the
// attention columns kept right in two places.
func TestOneWriterOfTheOrdersRow(t *testing.T) {
	write := regexp.MustCompile(`(?i)\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+orders\b[^_]`)
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "testdata" || name == "bin" || strings.HasPrefix(name, ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if filepath.ToSlash(path) == "../activities/orderrows.go" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := write.Find(src); m != nil {
			t.Errorf("%s writes the orders row (%q): go through activities/orderrows.go", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
