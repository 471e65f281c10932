package node

import (
	"strings"
	"testing"
)

func TestParseInitialCluster(t *testing.T) {
	ms, err := ParseInitialCluster("m1=http://127.0.0.1:2380,m2=http://127.0.0.1:12380,m1=http://10.0.0.1:2380", "tok")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "m1" || len(ms[0].PeerURLs) != 2 || ms[1].Name != "m2" {
		t.Fatalf("parsed %+v", ms)
	}
	// IDs depend on the URLs (in any order) and the token, nothing else.
	if ms[0].ID != MemberID([]string{"http://10.0.0.1:2380", "http://127.0.0.1:2380"}, "tok") {
		t.Fatal("member id depends on URL order")
	}
	if ms[0].ID == MemberID(ms[0].PeerURLs, "other-token") {
		t.Fatal("member id ignores the cluster token")
	}
	again, _ := ParseInitialCluster("m2=http://127.0.0.1:12380,m1=http://127.0.0.1:2380,m1=http://10.0.0.1:2380", "tok")
	if ClusterID(again) != ClusterID(ms) {
		t.Fatal("cluster id depends on member order")
	}
}

func TestParseInitialClusterErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "empty",
		"m1":                        "not name=url",
		"m1=127.0.0.1:2380":         "needs a scheme",
		"a=http://x:1,b=http://x:1": "same peer URLs",
	} {
		_, err := ParseInitialCluster(in, "t")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseInitialCluster(%q) = %v, want error containing %q", in, err, want)
		}
	}
}
