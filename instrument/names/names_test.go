package names

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

func TestTableIsIndexedByID(t *testing.T) {
	seen := map[string]bool{}
	for i, r := range Table {
		if int(r.ID) != i {
			t.Fatalf("Table[%d] has ID %d", i, r.ID)
		}
		if i == 0 {
			if r.Name != "" || r.Kind != 0 {
				t.Fatalf("row 0 must be empty, got %+v", r)
			}
			continue
		}
		if r.Name == "" || r.Kind == 0 {
			t.Fatalf("row %d is incomplete: %+v", i, r)
		}
		if seen[r.Name] {
			t.Fatalf("%q appears twice", r.Name)
		}
		seen[r.Name] = true
		if id, ok := Lookup(r.Name); !ok || id != r.ID || id.Name() != r.Name {
			t.Fatalf("Lookup(%q) = %d, %v", r.Name, id, ok)
		}
	}
	if _, ok := Lookup("raft.tick"); ok {
		t.Fatal("raft.tick is not a name")
	}
	if ID(0).Valid() || ID(len(Table)).Valid() || ID(len(Table)).Name() != "" {
		t.Fatal("ID 0 and IDs past the table must be invalid")
	}
}

// TestEveryConstantIsARow fails when a name is declared in names.go without a
// row in Table: such a name would be emitted but unknown to every reader.
func TestEveryConstantIsARow(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "names.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, sp := range g.Specs {
			vs := sp.(*ast.ValueSpec)
			for i, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				s, _ := strconv.Unquote(lit.Value)
				if _, ok := Lookup(s); !ok {
					t.Errorf("%s = %q is declared but has no row in Table", vs.Names[i].Name, s)
				}
				n++
			}
		}
	}
	if n != len(Table)-1 {
		t.Errorf("names.go declares %d names, Table has %d rows", n, len(Table)-1)
	}
}

func TestKinds(t *testing.T) {
	if !MustID(ConfChange).Is(Span) || MustID(ConfChange).Is(Failpoint) {
		t.Fatal("raft.conf_change is a span, not a failpoint")
	}
	if !MustID(WALSync).Is(Span|Failpoint|Anchor) || MustID(BeforeSave).Is(Span) {
		t.Fatal("kinds of wal.fsync / raftBeforeSave are wrong")
	}
	if got := len(Of(Failpoint)); got != 26 {
		t.Fatalf("%d failpoints, want 26 (the names instrument registers with gofail)", got)
	}
}
