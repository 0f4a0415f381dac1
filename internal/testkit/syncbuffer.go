// Package testkit holds helpers shared by the tests of several packages, so that each
// test package does not grow its own copy.
package testkit

import (
	"bytes"
	"sync"
)

// SyncBuffer is a bytes.Buffer that a logger (writing from server goroutines) and a test
// (reading what was logged) can share without a data race.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
