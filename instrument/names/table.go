package names

// ID is a name's number in Table: what a record stores instead of the string.
type ID uint8

// Kind says how a name is used; a name may be several at once.
type Kind uint8

const (
	Span      Kind = 1 << iota // a span name kvd writes (and the tracer reads)
	Failpoint                  // registered with gofail
	Anchor                     // passed to instrument.Anchor by a boundary
	Legacy                     // no longer written; readers still accept it
)

// Row is one name of the vocabulary.
type Row struct {
	ID   ID
	Name string
	Kind Kind
}

// Table is the vocabulary, indexed by ID: Table[id].ID == id. Row 0 is the
// empty name. APPEND ONLY: IDs are stored in record files (contract 3).
var Table = [...]Row{
	{0, "", 0},
	{1, Propose, Span | Failpoint | Anchor},
	{2, ProposeForward, Span | Failpoint},
	{3, Send, Span | Failpoint | Anchor},
	{4, Receive, Span | Failpoint | Anchor},
	{5, WALSave, Span | Failpoint | Anchor},
	{6, WALSync, Span | Failpoint | Anchor},
	{7, CommitAdvance, Span | Failpoint | Anchor},
	{8, Apply, Span | Failpoint | Anchor},
	{9, BackendCommit, Span | Failpoint | Anchor},
	{10, SnapshotSave, Span | Failpoint},
	{11, SnapshotSend, Span | Failpoint},
	{12, SnapshotApply, Span | Failpoint},
	{13, ConfChange, Span},
	{14, WatchDeliver, Span},
	{15, LeaseExpire, Span},
	{16, MVCCWrite, Span | Legacy},
	{17, GRPCPut, Span},
	{18, GRPCTxn, Span},
	{19, GRPCDeleteRange, Span},
	{20, GRPCRange, Span},
	{21, GRPCCompact, Span},
	{22, BeforeSave, Failpoint},
	{23, AfterSave, Failpoint},
	{24, BeforeLeaderSend, Failpoint},
	{25, BeforeFollowerSend, Failpoint},
	{26, BeforeApplySnap, Failpoint},
	{27, AfterApplySnap, Failpoint},
	{28, BeforeSaveSnap, Failpoint},
	{29, AfterSaveSnap, Failpoint},
	{30, WALBeforeSync, Failpoint},
	{31, WALAfterSync, Failpoint},
	{32, BeforeCommit, Failpoint},
	{33, AfterCommit, Failpoint},
	{34, BeforeApply, Failpoint},
	{35, AfterApply, Failpoint},
}

var byName = func() map[string]ID {
	m := make(map[string]ID, len(Table))
	for _, r := range Table[1:] {
		m[r.Name] = r.ID
	}
	return m
}()

// Lookup returns the ID of name, and false if name is not in Table.
func Lookup(name string) (ID, bool) {
	id, ok := byName[name]
	return id, ok
}

// MustID is Lookup for names known at compile time; it panics on a name
// outside Table (a programming error caught by the first test that runs it).
func MustID(name string) ID {
	id, ok := byName[name]
	if !ok {
		panic("names: " + name + " is not in the table (instrument/names/table.go)")
	}
	return id
}

// Name returns the name of id, "" for 0 or an ID past the table.
func (id ID) Name() string {
	if int(id) >= len(Table) {
		return ""
	}
	return Table[id].Name
}

// Valid reports whether id is a row of Table other than the empty row 0.
func (id ID) Valid() bool { return id > 0 && int(id) < len(Table) }

// Is reports whether the row of id has every bit of k.
func (id ID) Is(k Kind) bool { return id.Valid() && Table[id].Kind&k == k }

// Of lists the names whose Kind has every bit of k, in ID order.
func Of(k Kind) []string {
	var out []string
	for _, r := range Table[1:] {
		if r.Kind&k == k {
			out = append(out, r.Name)
		}
	}
	return out
}
