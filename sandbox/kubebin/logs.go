package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// containerLogs stores a container's output in the CRI log format, one file per
// restart ("<ts> <stream> F <line>"), and wakes followers on every write.
type containerLogs struct {
	dir string

	mu      sync.Mutex
	file    *os.File
	current int32 // restart number of the file being written, -1 before the first
	closed  bool
	notify  chan struct{}
	streams []*lineWriter
}

func newContainerLogs(dir string) *containerLogs {
	return &containerLogs{dir: dir, current: -1, closed: true, notify: make(chan struct{})}
}

func (l *containerLogs) path(restart int32) string {
	return filepath.Join(l.dir, fmt.Sprintf("%d.log", restart))
}

// open starts the log file for one run and returns its stdout and stderr writers.
func (l *containerLogs) open(restart int32) (io.Writer, io.Writer, error) {
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(l.path(restart), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.file, l.current, l.closed = f, restart, false
	l.streams = []*lineWriter{{logs: l, stream: "stdout"}, {logs: l, stream: "stderr"}}
	l.wake()
	return l.streams[0], l.streams[1], nil
}

// close flushes partial lines and marks the run finished (followers stop at EOF).
func (l *containerLogs) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.streams {
		if len(s.partial) > 0 {
			l.writeLine(s.stream, s.partial)
			s.partial = nil
		}
	}
	if l.file != nil {
		_ = l.file.Close()
		l.file = nil
	}
	l.closed = true
	l.wake()
}

// wake releases every follower waiting for output; the caller holds the lock.
func (l *containerLogs) wake() {
	close(l.notify)
	l.notify = make(chan struct{})
}

// writeLine appends one CRI line; the caller holds the lock.
func (l *containerLogs) writeLine(stream string, line []byte) {
	if l.file == nil {
		return
	}
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	_, _ = fmt.Fprintf(l.file, "%s %s F %s\n", ts, stream, line)
}

// snapshot returns the file to read and a channel that closes on change. The current
// run is the newest one started; the previous one is the run before the container's
// latest restart (restarts counts restarts so far, including one in back-off).
func (l *containerLogs) snapshot(previous bool, restarts int32) (path string, running bool, changed <-chan struct{}, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	run := l.current
	if previous {
		run = restarts - 1
	}
	if run < 0 {
		if previous {
			return "", false, nil, fmt.Errorf("previous terminated container not found")
		}
		return "", false, l.notify, nil
	}
	return l.path(run), !previous && !l.closed, l.notify, nil
}

type lineWriter struct {
	logs    *containerLogs
	stream  string
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.logs.mu.Lock()
	defer w.logs.mu.Unlock()
	data := append(w.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		w.logs.writeLine(w.stream, bytes.TrimSuffix(data[:i], []byte("\r")))
		data = data[i+1:]
	}
	w.partial = append([]byte(nil), data...)
	w.logs.wake()
	return len(p), nil
}

// criLine is one parsed log line.
type criLine struct {
	time    time.Time
	content []byte
}

func parseCRILine(raw []byte) (criLine, bool) {
	parts := bytes.SplitN(raw, []byte(" "), 4)
	if len(parts) < 4 {
		return criLine{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(parts[0]))
	if err != nil {
		return criLine{}, false
	}
	return criLine{time: t, content: parts[3]}, true
}

// readLines yields the complete lines of path from offset, returning the new offset.
func readLines(path string, offset int64, emit func(criLine) bool) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return offset, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, err
	}
	reader := bufio.NewReaderSize(f, 64*1024)
	for {
		raw, err := reader.ReadBytes('\n')
		if err != nil { // a partial line is left for the next read
			return offset, nil
		}
		offset += int64(len(raw))
		if line, ok := parseCRILine(bytes.TrimSuffix(raw, []byte("\n"))); ok && !emit(line) {
			return offset, nil
		}
	}
}
