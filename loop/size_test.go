package loop

import (
	"testing"
	"unsafe"
)

// connBudget is the per-stream bound on the conn struct: 128 bytes is a Go
// size class, and every byte here is paid per idle stream (BENCHMARKS.md).
const connBudget = 128

func TestConnFitsItsBudget(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > connBudget {
		t.Fatalf("conn is %d bytes, budget %d", n, connBudget)
	}
}
