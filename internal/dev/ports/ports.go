// Package ports finds loopback ports for the development harness's processes (PostgreSQL,
// Temporal's services, the API, workers, the simulator), which are started as separate
// programs and so cannot be handed a listener. The port is free when returned and may be
// taken again before the program binds it; the harness lives with that race as every local
// launcher does.
package ports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
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

// FreeLow is a free 127.0.0.1 port below 32768, for a port that ends up in a smallint
// column: Temporal keeps each host's membership (ringpop) port in cluster_membership's
// rpc_port, an int2, and the kernel's ephemeral ports (what Free gets) lie above it.
func FreeLow() (int, error) {
	for range 200 {
		port := 20000 + rand.IntN(32768-20000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("find a free port below 32768: none after 200 tries")
}

// Dialable turns a listen address (":8080", "0.0.0.0:8080") into one to dial: a wildcard
// host becomes the loopback address.
func Dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
