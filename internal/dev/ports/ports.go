// Package ports finds loopback ports for the development harness's processes (PostgreSQL,
// Temporal's services, the API, workers, the simulator), which are started as separate
// programs and so cannot be handed a listener. The port is free when returned and may be
// taken again before the program binds it; the harness lives with that race as every local
// launcher does.
package ports

import (
	"fmt"
	"net"
)

// FreeAddr is a 127.0.0.1 host:port free now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Free is a free 127.0.0.1 port number.
func Free() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
