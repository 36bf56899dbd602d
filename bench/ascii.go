package bench

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// asciiCodec speaks the memcached text protocol (get, set), for peers such as
// twemproxy that speak nothing else.
type asciiCodec struct {
	br        *bufio.Reader
	valueSize int
	num       [20]byte
}

// asciiBufSize is the reply buffer: a whole line must fit in it.
const asciiBufSize = 16 << 10

func newASCIICodec(r io.Reader, valueSize int) *asciiCodec {
	return &asciiCodec{br: bufio.NewReaderSize(r, asciiBufSize), valueSize: valueSize}
}

func (c *asciiCodec) appendGet(dst, key []byte, _ uint32) []byte {
	dst = append(dst, "get "...)
	dst = append(dst, key...)
	return append(dst, "\r\n"...)
}

func (c *asciiCodec) appendSet(dst, key, value []byte, _ uint32) []byte {
	dst = append(dst, "set "...)
	dst = append(dst, key...)
	dst = append(dst, " 0 0 "...)
	dst = append(dst, strconv.AppendInt(c.num[:0], int64(len(value)), 10)...)
	dst = append(dst, "\r\n"...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

func (c *asciiCodec) buffered() int { return c.br.Buffered() }

// errorWords are the reply words counted as error labels; anything else
// unexpected is a protocol error.
var errorWords = []string{"ERROR", "CLIENT_ERROR", "SERVER_ERROR", "NOT_STORED", "EXISTS", "NOT_FOUND"}

func (c *asciiCodec) line() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, protocolErrorf("reply line longer than %d bytes", asciiBufSize)
		}
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, protocolErrorf("reply line %q does not end in CRLF", line)
	}
	return line[:len(line)-2], nil
}

func (c *asciiCodec) read(isGet bool, _ uint32) (outcome, string, error) {
	line, err := c.line()
	if err != nil {
		return outError, "", err
	}
	switch {
	case isGet && bytes.HasPrefix(line, []byte("VALUE ")):
		return c.readValue(line)
	case isGet && string(line) == "END":
		return outMiss, "", nil
	case !isGet && string(line) == "STORED":
		return outStored, "", nil
	}
	word, _, _ := bytes.Cut(line, []byte(" "))
	for _, w := range errorWords {
		if string(word) == w {
			return outError, w, nil
		}
	}
	return outError, "", protocolErrorf("unexpected reply %q", truncate(line, 64))
}

// readValue reads the data block and the END line after "VALUE key flags
// bytes [cas]".
func (c *asciiCodec) readValue(line []byte) (outcome, string, error) {
	f, ok := field(line, 3)
	if !ok {
		return outError, "", protocolErrorf("bad VALUE line %q", truncate(line, 64))
	}
	n, err := strconv.Atoi(string(f))
	if err != nil || n < 0 || n > MaxValueSize {
		return outError, "", protocolErrorf("bad VALUE length in %q", truncate(line, 64))
	}
	if _, err := c.br.Discard(n); err != nil {
		return outError, "", unexpected(err)
	}
	crlf, err := c.line()
	if err != nil {
		return outError, "", unexpected(err)
	}
	if len(crlf) != 0 {
		return outError, "", protocolErrorf("value of %d bytes not followed by CRLF", n)
	}
	end, err := c.line()
	if err != nil {
		return outError, "", unexpected(err)
	}
	if string(end) != "END" {
		return outError, "", protocolErrorf("got %q after a value, want END", truncate(end, 64))
	}
	if n != c.valueSize {
		return outError, "bad_value", nil
	}
	return outHit, "", nil
}

// field returns the i-th (0-based) space-separated field of line, without
// allocating.
func field(line []byte, i int) ([]byte, bool) {
	for {
		for len(line) > 0 && line[0] == ' ' {
			line = line[1:]
		}
		if len(line) == 0 {
			return nil, false
		}
		end := bytes.IndexByte(line, ' ')
		if end < 0 {
			end = len(line)
		}
		if i == 0 {
			return line[:end], true
		}
		line = line[end:]
		i--
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
