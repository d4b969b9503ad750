package headstore

// Limits of one Store. Each has a reason; none is a setting users need.
const (
	// maxPieces bounds the pieces in one table. A fleet of browsers repeats a
	// few hundred distinct pieces (browser builds × pages × languages); the
	// bound keeps clients that invent pieces from growing the table's map
	// without end. Ids stay below it, so a reference is at most 3 bytes.
	maxPieces = 1 << 16

	// maxTableBytes bounds the bytes of all pieces in one table (the map and
	// entries add about 60 bytes per piece on top). Past either bound a new
	// piece stays in the stream's own copy, which costs what it costs today.
	maxTableBytes = 8 << 20

	// minPiece is the shortest piece worth sharing: a reference costs 1 to 3
	// bytes in the stream's copy and a table entry about 60 bytes once, so a
	// shorter piece saves nothing and only fills the table. 4 takes "GET "
	// and cookie names like "_ga=".
	minPiece = 4

	// seenSlots is the size of the filter of pieces seen once (8 bytes a
	// slot, 32 KiB per loop; two-way, see table.seenBefore). A piece enters
	// the table the second time it is seen, so pieces that never repeat (a
	// session cookie's value) never cost a table entry; a piece that repeats
	// within a few thousand other new pieces is caught. Power of two.
	seenSlots = 1 << 12
)
