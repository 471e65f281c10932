package localcluster

import (
	"fmt"
	"path/filepath"
	"strings"
)

// NewMember prepares (but does not start) a member that joins the running
// cluster with an empty data dir: fresh loopback ports, the flags of
// template with the member-specific ones replaced, --initial-cluster set to
// the current members plus this one and --initial-cluster-state existing.
// Add it to the cluster first (etcdctl member add NAME --peer-urls=PeerURL).
// It is appended to c.Members.
func (c *Cluster) NewMember(name string, template *Member) (*Member, error) {
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	m := &Member{
		Name:      name,
		ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", schemeOf(template.ClientURL), ports[0]), // tls.go
		PeerURL:   fmt.Sprintf("%s://127.0.0.1:%d", schemeOf(template.PeerURL), ports[1]),
		binary:    template.binary,
		env:       template.env,
	}
	dir := filepath.Dir(template.DataDir)
	m.DataDir = filepath.Join(dir, name+".kvd")
	m.LogPath = filepath.Join(dir, name+".log")
	var initial []string
	for _, o := range c.Members {
		initial = append(initial, o.Name+"="+o.PeerURL)
	}
	initial = append(initial, name+"="+m.PeerURL)
	set := map[string]string{
		"--name": name, "--data-dir": m.DataDir,
		"--listen-client-urls": m.ClientURL, "--advertise-client-urls": m.ClientURL,
		"--listen-peer-urls": m.PeerURL, "--initial-advertise-peer-urls": m.PeerURL,
		"--initial-cluster": strings.Join(initial, ","), "--initial-cluster-state": "existing",
	}
	args := template.Args()
	for i := 0; i+1 < len(args); i++ {
		if v, ok := set[args[i]]; ok {
			args[i+1] = v
			i++
		}
	}
	m.args = args
	c.Members = append(c.Members, m)
	return m, nil
}
