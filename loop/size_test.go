package loop

import (
	"testing"
	"unsafe"
)

func TestConnSize(t *testing.T) {
	t.Logf("conn %d bytes, op %d bytes, subRef %d", unsafe.Sizeof(conn{}), unsafe.Sizeof(op{}), unsafe.Sizeof(subRef{}))
}
