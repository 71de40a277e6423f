package lab

import (
	"encoding/binary"
	"errors"
	"net"
)

// DNS answers for the lab network. Machines must not wait on a resolver
// that never answers (every swarm task start then stalls about 20 s on a
// DNS timeout), and the lab has no names to serve: every query gets "no
// such name" at once. The registry upstream is addressed by IP.

const (
	dnsHeaderLen  = 12
	rcodeFormErr  = 1
	rcodeNXDomain = 3
	rcodeNotImp   = 4
)

// DNSReply builds the reply to one DNS query message: the question echoed
// back with NXDOMAIN (FORMERR for a question it cannot parse, NOTIMP for
// opcodes other than QUERY). It returns nil for messages that must not be
// answered (too short, or themselves responses).
func DNSReply(q []byte) []byte {
	if len(q) < dnsHeaderLen {
		return nil
	}
	flags := binary.BigEndian.Uint16(q[2:4])
	if flags&0x8000 != 0 { // QR set: a response, never answer it
		return nil
	}
	opcode := (flags >> 11) & 0xF
	rd := flags & 0x0100
	rcode := uint16(rcodeNXDomain)
	question := []byte(nil)
	switch {
	case opcode != 0:
		rcode = rcodeNotImp
	case binary.BigEndian.Uint16(q[4:6]) != 1:
		rcode = rcodeFormErr
	default:
		end, err := questionEnd(q, dnsHeaderLen)
		if err != nil {
			rcode = rcodeFormErr
		} else {
			question = q[dnsHeaderLen:end]
		}
	}
	r := make([]byte, dnsHeaderLen, dnsHeaderLen+len(question))
	copy(r[0:2], q[0:2]) // ID
	// QR=1, opcode echoed, RD echoed, RA=1, rcode.
	binary.BigEndian.PutUint16(r[2:4], 0x8000|opcode<<11|rd|0x0080|rcode)
	if question != nil {
		binary.BigEndian.PutUint16(r[4:6], 1)
		r = append(r, question...)
	}
	return r
}

// questionEnd returns the offset just past the question starting at off
// (name, type, class). Compression pointers are not valid in a query's
// first name and are rejected.
func questionEnd(m []byte, off int) (int, error) {
	for n := 0; ; n++ {
		if off >= len(m) || n > 127 {
			return 0, errors.New("truncated name")
		}
		l := int(m[off])
		if l == 0 {
			off++
			break
		}
		if l&0xC0 != 0 {
			return 0, errors.New("unexpected label type")
		}
		off += 1 + l
	}
	if off+4 > len(m) {
		return 0, errors.New("truncated question")
	}
	return off + 4, nil
}

// ServeDNS answers every query arriving on pc until it is closed.
func ServeDNS(pc net.PacketConn) error {
	buf := make([]byte, 4096)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if r := DNSReply(buf[:n]); r != nil {
			pc.WriteTo(r, addr)
		}
	}
}
