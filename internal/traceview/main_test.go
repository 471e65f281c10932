package traceview_test

import (
	"os"
	"testing"
)

var tempDirs []string

func mkTemp() (string, error) {
	d, err := os.MkdirTemp("", "traceview-fixture-")
	if err == nil {
		tempDirs = append(tempDirs, d)
	}
	return d, err
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}
