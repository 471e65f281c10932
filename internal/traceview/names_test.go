package traceview_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kvtrace/kvtrace/instrument/names"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

// TestTracerKnowsEverySpanName: every span name of the one table is known to
// the tracer, and no failpoint-only name is.
func TestTracerKnowsEverySpanName(t *testing.T) {
	for _, r := range names.Table[1:] {
		span := r.Kind&names.Span != 0
		if got := traceview.Known(r.Name); got != span {
			t.Errorf("Known(%q) = %v, but the table says span=%v", r.Name, got, span)
		}
	}
}

// TestCodeStartsOnlyTableNames parses the members' code and fails when a span
// is started with a name the tracer does not know, or with a span name
// declared outside instrument/names (a second table that can drift).
func TestCodeStartsOnlyTableNames(t *testing.T) {
	root := filepath.Join("..", "..")
	consts := map[string]map[string]ast.Expr{} // package alias -> const -> value
	for alias, file := range map[string]string{
		"instrument": filepath.Join(root, "instrument", "names.go"),
		"names":      filepath.Join(root, "instrument", "names", "names.go"),
	} {
		consts[alias] = fileConsts(t, file)
	}
	var resolve func(pkgConsts map[string]ast.Expr, e ast.Expr) (string, bool)
	resolve = func(pkgConsts map[string]ast.Expr, e ast.Expr) (string, bool) {
		switch x := e.(type) {
		case *ast.BasicLit:
			if x.Kind == token.STRING {
				s, err := strconv.Unquote(x.Value)
				return s, err == nil
			}
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && consts[id.Name] != nil {
				if v, ok := consts[id.Name][x.Sel.Name]; ok {
					return resolve(consts[id.Name], v)
				}
			}
		case *ast.Ident:
			if v, ok := pkgConsts[x.Name]; ok {
				return resolve(pkgConsts, v)
			}
		}
		return "", false
	}
	checked := 0
	for _, dir := range []string{"internal", "cmd", "instrument"} {
		pkgs := map[string][]*ast.File{}
		fset := token.NewFileSet()
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "traceview" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(p)
			if err != nil || !bytes.Contains(src, []byte(".Start(")) {
				return err
			}
			f, err := parser.ParseFile(fset, p, src, 0)
			if err != nil {
				return err
			}
			pkgs[filepath.Dir(p)] = append(pkgs[filepath.Dir(p)], f)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for pdir, files := range pkgs {
			pkgConsts := map[string]ast.Expr{}
			matches, _ := filepath.Glob(filepath.Join(pdir, "*.go"))
			for _, m := range matches {
				if !strings.HasSuffix(m, "_test.go") {
					for k, v := range fileConsts(t, m) {
						pkgConsts[k] = v
					}
				}
			}
			for _, f := range files {
				ast.Inspect(f, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok || len(call.Args) < 2 {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok || sel.Sel.Name != "Start" {
						return true
					}
					arg := call.Args[1]
					name, ok := resolve(pkgConsts, arg)
					if !ok {
						return true // a runtime value (a parameter): its callers pass table names
					}
					checked++
					at := fset.Position(arg.Pos())
					if !traceview.Known(name) {
						t.Errorf("%s: span %q is not known to the tracer: add it to instrument/names", at, name)
					}
					if !fromTable(arg, pkgConsts, consts) {
						t.Errorf("%s: span name %q is spelled outside instrument/names: use the table's constant", at, name)
					}
					return true
				})
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d span starts found: the scan no longer sees the code", checked)
	}
}

// fromTable reports whether e names a constant of instrument or
// instrument/names directly, or a package constant defined as one.
func fromTable(e ast.Expr, pkgConsts map[string]ast.Expr, consts map[string]map[string]ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		if v, ok := pkgConsts[x.Name]; ok {
			return fromTable(v, pkgConsts, consts)
		}
	case *ast.SelectorExpr:
		id, ok := x.X.(*ast.Ident)
		return ok && consts[id.Name] != nil
	}
	return false
}

func fileConsts(t *testing.T, path string) map[string]ast.Expr {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ast.Expr{}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
			for _, sp := range g.Specs {
				vs := sp.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						out[n.Name] = vs.Values[i]
					}
				}
			}
		}
	}
	return out
}

// TestSpansDocNamesOnlyRealFlags: every --flag docs/spans.md mentions is a
// flag kvd defines (cmd/kvd/flags.go), and every span name in its tables is
// in the one table of names.
func TestSpansDocNamesOnlyRealFlags(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "spans.md"))
	if err != nil {
		t.Fatal(err)
	}
	flags, err := os.ReadFile(filepath.Join("..", "..", "cmd", "kvd", "flags.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("`(?:kvd )?--([a-z][a-z-]*)").FindAllSubmatch(doc, -1) {
		if !bytes.Contains(flags, []byte(`"`+string(m[1])+`"`)) {
			t.Errorf("docs/spans.md mentions --%s, which kvd does not define", m[1])
		}
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_.]+)`").FindAllSubmatch(doc, -1) {
		if !traceview.Known(string(m[1])) {
			t.Errorf("docs/spans.md documents span %q, which is not in instrument/names", m[1])
		}
	}
}

// TestAnchorKindMatchesCode: the names the table marks as debugger anchors
// are exactly the names the code passes to instrument.Anchor (so `tracer
// debug --boundary` accepts every anchor and only anchors).
func TestAnchorKindMatchesCode(t *testing.T) {
	root := filepath.Join("..", "..")
	inst := fileConsts(t, filepath.Join(root, "instrument", "names.go"))
	vocab := fileConsts(t, filepath.Join(root, "instrument", "names", "names.go"))
	value := func(ident string) string {
		sel, ok := inst[ident].(*ast.SelectorExpr)
		if !ok {
			return ""
		}
		lit, ok := vocab[sel.Sel.Name].(*ast.BasicLit)
		if !ok {
			return ""
		}
		s, _ := strconv.Unquote(lit.Value)
		return s
	}
	call := regexp.MustCompile(`instrument\.Anchor\(instrument\.(\w+)`)
	inCode := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		src, err := os.ReadFile(p)
		for _, m := range call.FindAllSubmatch(src, -1) {
			v := value(string(m[1]))
			if v == "" {
				t.Errorf("%s: instrument.Anchor(instrument.%s): not a table name", p, m[1])
			}
			inCode[v] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names.Of(names.Anchor) {
		if !inCode[n] {
			t.Errorf("the table marks %q as an anchor, but no boundary calls instrument.Anchor with it", n)
		}
		delete(inCode, n)
	}
	for n := range inCode {
		t.Errorf("the code anchors %q, but the table does not mark it as an anchor", n)
	}
}
