package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
)

// raftLogger adapts slog to raft.Logger. raft's own Fatal/Panic stay fatal.
type raftLogger struct{ lg *slog.Logger }

func (l raftLogger) Debug(v ...any)              { l.lg.Debug(fmt.Sprint(v...)) }
func (l raftLogger) Debugf(f string, v ...any)   { l.lg.Debug(fmt.Sprintf(f, v...)) }
func (l raftLogger) Info(v ...any)               { l.lg.Info(fmt.Sprint(v...)) }
func (l raftLogger) Infof(f string, v ...any)    { l.lg.Info(fmt.Sprintf(f, v...)) }
func (l raftLogger) Warning(v ...any)            { l.lg.Warn(fmt.Sprint(v...)) }
func (l raftLogger) Warningf(f string, v ...any) { l.lg.Warn(fmt.Sprintf(f, v...)) }
func (l raftLogger) Error(v ...any)              { l.lg.Error(fmt.Sprint(v...)) }
func (l raftLogger) Errorf(f string, v ...any)   { l.lg.Error(fmt.Sprintf(f, v...)) }
func (l raftLogger) Fatal(v ...any)              { l.fatal(fmt.Sprint(v...)) }
func (l raftLogger) Fatalf(f string, v ...any)   { l.fatal(fmt.Sprintf(f, v...)) }
func (l raftLogger) Panic(v ...any)              { panic(fmt.Sprint(v...)) }
func (l raftLogger) Panicf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
func (l raftLogger) fatal(msg string) {
	l.lg.Log(context.Background(), slog.LevelError+4, msg)
	os.Exit(1)
}
