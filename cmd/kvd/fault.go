package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

const faultUsage = `usage: kvd fault --admin HOST:PORT COMMAND [FLAGS]

Message faults act on the raft messages the addressed member SENDS (start it
with --admin-addr HOST:PORT). Commands:

  list                         print the rules in force
  add  [--type T] [--to NAME] [--drop F | --blackhole] [--delay D] [--for D]
                               add a rule, e.g. drop every MsgAppResp m2 sends
                               to m1 for 5s:
                                 kvd fault --admin <m2's admin addr> add --type MsgAppResp --to m1 --blackhole --for 5s
  clear                        remove every rule
`

// runFault is the `kvd fault` admin client.
func runFault(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kvd fault", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	admin := fs.String("admin", "", "the member's --admin-addr (HOST:PORT)")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 || *admin == "" {
		fmt.Fprint(os.Stderr, faultUsage)
		if err != nil {
			return err
		}
		return fmt.Errorf("need --admin and a command")
	}
	url := "http://" + strings.TrimPrefix(*admin, "http://") + "/faults"
	var method string
	var body []byte
	switch cmd := fs.Arg(0); cmd {
	case "list":
		method = http.MethodGet
	case "clear":
		method = http.MethodDelete
	case "add":
		afs := flag.NewFlagSet("kvd fault add", flag.ContinueOnError)
		afs.SetOutput(io.Discard)
		typ := afs.String("type", "", "raft message type (MsgApp, MsgAppResp, MsgHeartbeat, MsgVote, MsgProp, ...); empty = any")
		to := afs.String("to", "", "receiving member name; empty = any")
		drop := afs.Float64("drop", 0, "fraction of matching messages to drop (0..1)")
		blackhole := afs.Bool("blackhole", false, "drop every matching message")
		delay := afs.Duration("delay", 0, "delay matching messages (later ones queue behind them)")
		forD := afs.Duration("for", 0, "remove the rule after this long (0 = until cleared)")
		if err := afs.Parse(fs.Args()[1:]); err != nil {
			return fmt.Errorf("kvd fault add: %v", err)
		}
		if !*blackhole && *drop == 0 && *delay == 0 {
			return fmt.Errorf("kvd fault add: give --drop, --blackhole or --delay")
		}
		rule := faultJSON{Type: *typ, To: *to, Drop: *drop, Blackhole: *blackhole}
		if *delay > 0 {
			rule.Delay = delay.String()
		}
		if *forD > 0 {
			rule.For = forD.Round(time.Millisecond).String()
		}
		body, _ = json.Marshal(rule)
		method = http.MethodPost
	default:
		fmt.Fprint(os.Stderr, faultUsage)
		return fmt.Errorf("unknown fault command %q", cmd)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("reaching the admin API at %s: %w (was the member started with --admin-addr?)", *admin, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(out)))
	}
	var rules []faultJSON
	if err := json.Unmarshal(out, &rules); err != nil {
		return fmt.Errorf("unexpected answer from %s: %s", *admin, out)
	}
	if len(rules) == 0 {
		fmt.Fprintln(stdout, "no message faults")
	}
	for _, r := range rules {
		line, _ := json.Marshal(r)
		fmt.Fprintln(stdout, string(line))
	}
	return nil
}
