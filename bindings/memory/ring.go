package memory

// ring is a double-ended queue of entries kept in ascending seq order: new
// messages go to the back, and redelivered ones return to their original place,
// which is almost always at or near the front.
type ring struct {
	buf  []*entry // len is 0 or a power of two
	head int
	n    int
}

func (r *ring) at(i int) *entry     { return r.buf[(r.head+i)&(len(r.buf)-1)] }
func (r *ring) set(i int, e *entry) { r.buf[(r.head+i)&(len(r.buf)-1)] = e }

func (r *ring) grow() {
	if r.n == len(r.buf) {
		r.resize(max(16, 2*len(r.buf)))
	}
}

func (r *ring) resize(size int) {
	buf := make([]*entry, size)
	for i := range r.n {
		buf[i] = r.at(i)
	}
	r.buf, r.head = buf, 0
}

func (r *ring) pushBack(e *entry) {
	r.grow()
	r.set(r.n, e)
	r.n++
}

// popFront removes and returns the first entry, nil when empty.
func (r *ring) popFront() *entry {
	if r.n == 0 {
		return nil
	}
	e := r.at(0)
	r.set(0, nil)
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	// Give back what a burst left behind; halving at a quarter full keeps
	// the copying amortised.
	if len(r.buf) > 1024 && r.n < len(r.buf)/4 {
		r.resize(len(r.buf) / 2)
	}
	return e
}

// insert puts e at its place by seq, shifting the shorter side.
func (r *ring) insert(e *entry) {
	r.grow()
	lo, hi := 0, r.n // first index whose seq is greater than e.seq
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.at(mid).seq <= e.seq {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	i := lo
	if i < r.n/2 {
		r.head = (r.head - 1) & (len(r.buf) - 1)
		for j := 0; j < i; j++ {
			r.set(j, r.at(j+1))
		}
	} else {
		for j := r.n; j > i; j-- {
			r.set(j, r.at(j-1))
		}
	}
	r.set(i, e)
	r.n++
}

// removeAt removes and returns the entry at index i, shifting the shorter
// side.
func (r *ring) removeAt(i int) *entry {
	e := r.at(i)
	if i < r.n/2 {
		for j := i; j > 0; j-- {
			r.set(j, r.at(j-1))
		}
		r.set(0, nil)
		r.head = (r.head + 1) & (len(r.buf) - 1)
	} else {
		for j := i; j < r.n-1; j++ {
			r.set(j, r.at(j+1))
		}
		r.set(r.n-1, nil)
	}
	r.n--
	return e
}
