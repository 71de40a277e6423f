package lab

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
)

// DNS answers for the lab network. Machines must not wait on a resolver
// that never answers (every swarm task start then stalls about 20 s on a
// DNS timeout). The only names the lab serves are the HTTPS stand-ins for
// public registries (registry-1.docker.io, ghcr.io, quay.io): an A query
// for one gets its address, any other question about it an empty answer;
// every other name gets "no such name" at once.

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
func DNSReply(q []byte) []byte { return DNSReplyFor(q, nil) }

// DNSReplyFor is DNSReply answering A queries for the names of hosts
// (lower case, without the final dot) with their IPv4 address.
func DNSReplyFor(q []byte, hosts map[string]net.IP) []byte {
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
	var answer net.IP
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
			if ip, ok := hosts[questionName(question)]; ok {
				rcode = 0 // the name exists: an A record, or no data of other types
				qtype := binary.BigEndian.Uint16(question[len(question)-4:])
				qclass := binary.BigEndian.Uint16(question[len(question)-2:])
				if qtype == 1 && qclass == 1 && ip.To4() != nil {
					answer = ip.To4()
				}
			}
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
	if answer != nil {
		binary.BigEndian.PutUint16(r[6:8], 1)
		// Name: a pointer to the question's; type A, class IN, TTL 60 s.
		r = append(r, 0xC0, dnsHeaderLen, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		r = append(r, answer...)
	}
	return r
}

// questionName is the question's name in lower case without the final dot.
func questionName(question []byte) string {
	var labels []string
	for off := 0; off < len(question) && question[off] != 0; off += 1 + int(question[off]) {
		labels = append(labels, strings.ToLower(string(question[off+1:off+1+int(question[off])])))
	}
	return strings.Join(labels, ".")
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
func ServeDNS(pc net.PacketConn) error { return ServeDNSFor(pc, nil) }

// ServeDNSFor is ServeDNS serving the A records of hosts.
func ServeDNSFor(pc net.PacketConn, hosts map[string]net.IP) error {
	buf := make([]byte, 4096)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if r := DNSReplyFor(buf[:n], hosts); r != nil {
			pc.WriteTo(r, addr)
		}
	}
}
