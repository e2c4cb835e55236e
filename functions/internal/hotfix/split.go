package hotfix

import (
	"strings"
	"unicode"
)

// statement is where one statement of a script starts: its first word, upper-cased, and the
// line (from 1) that word is on.
type statement struct {
	Word string
	Line int
}

// statements finds where every statement of a SQL script starts. The server parses and runs
// the script; this only finds the starts, to refuse transaction control before anything runs
// and to name the line of a statement that fails. It skips strings ('…', E'…'), quoted
// identifiers, dollar-quoted bodies and comments, where a ';' or a BEGIN is not one.
func statements(sql string) []statement {
	var words []statement
	start := true // at the start of a statement
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ';':
			start = true
			i++
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(sql)
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			i = skipBlockComment(sql, i)
		case c == '\'':
			i = skipQuoted(sql, i, '\'', false)
			start = false
		case (c == 'E' || c == 'e') && i+1 < len(sql) && sql[i+1] == '\'' && !isWordByte(sql, i-1):
			i = skipQuoted(sql, i+1, '\'', true)
			start = false
		case c == '"':
			i = skipQuoted(sql, i, '"', false)
			start = false
		case c == '$':
			if tag, ok := dollarTag(sql[i:]); ok {
				if j := strings.Index(sql[i+len(tag):], tag); j >= 0 {
					i += len(tag) + j + len(tag)
				} else {
					i = len(sql)
				}
			} else {
				i++
			}
			start = false
		case unicode.IsSpace(rune(c)):
			i++
		default:
			j := i
			for j < len(sql) && isWordByte(sql, j) {
				j++
			}
			if j == i {
				j = i + 1
			}
			if start {
				words = append(words, statement{Word: strings.ToUpper(sql[i:j]), Line: 1 + strings.Count(sql[:i], "\n")})
				start = false
			}
			i = j
		}
	}
	return words
}

func isWordByte(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// skipQuoted skips a quoted string or identifier starting at s[i] == q; a doubled q is one
// character, and with backslashes (E'…') so is \q.
func skipQuoted(s string, i int, q byte, backslashes bool) int {
	for j := i + 1; j < len(s); j++ {
		switch {
		case backslashes && s[j] == '\\':
			j++
		case s[j] == q && j+1 < len(s) && s[j+1] == q:
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return len(s)
}

// skipBlockComment skips a /* … */ comment, which nests in PostgreSQL.
func skipBlockComment(s string, i int) int {
	depth := 0
	for j := i; j < len(s)-1; j++ {
		switch {
		case s[j] == '/' && s[j+1] == '*':
			depth++
			j++
		case s[j] == '*' && s[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

// dollarTag reads a $tag$ or $$ at the start of s.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '$':
			return s[:j+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || j > 1 && c >= '0' && c <= '9':
		default:
			return "", false
		}
	}
	return "", false
}
