package loyalty

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// checks gathers the first problem with an input; each check names the field it reads.
type checks struct{ err *Error }

// uuid checks that *v is a uuid and rewrites it in canonical form (lower case, dashed), the
// form Postgres returns: a client may send upper case or urn:uuid:, and Go compares strings.
func (c *checks) uuid(field string, v *string) {
	if c.err != nil {
		return
	}
	if *v == "" {
		c.err = invalid("%s is required", field)
		return
	}
	id, err := uuid.Parse(*v)
	if err != nil {
		c.err = invalid("%s must be a uuid", field)
		return
	}
	*v = id.String()
}

func (c *checks) text(field, v string, maxLen int) {
	if c.err != nil {
		return
	}
	switch {
	case strings.TrimSpace(v) == "":
		c.err = invalid("%s is required", field)
	case utf8.RuneCountInString(v) > maxLen:
		c.err = invalid("%s is longer than %d characters", field, maxLen)
	case strings.ContainsRune(v, 0) || !utf8.ValidString(v):
		// Postgres text cannot hold them; refused here, they are the client's mistake.
		c.err = invalid("%s contains a character that is not allowed", field)
	}
}

func (c *checks) optionalText(field string, v *string, maxLen int) {
	if v != nil && *v != "" {
		c.text(field, *v, maxLen)
	}
}

func (c *checks) that(ok bool, format string, args ...any) {
	if c.err == nil && !ok {
		c.err = invalid(format, args...)
	}
}

func (c *checks) result() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

// printable refuses control characters (tabs, new lines, escapes) in a one-line field, and
// trims the white space around it. v may be nil (an optional field left out).
func (c *checks) printable(field string, v *string) {
	if v == nil {
		return
	}
	*v = strings.TrimSpace(*v)
	c.that(!strings.ContainsFunc(*v, unicode.IsControl), "%s contains a control character", field)
}

// int32Range checks that v fits GraphQL's Int, the type the apps send and read amounts and
// points as. Everything the programme stores stays inside it (the database checks it too).
func (c *checks) int32Range(field string, v int64) {
	c.that(v >= MinInt && v <= MaxInt, "%s must be between %d and %d", field, MinInt, MaxInt)
}

// receiptNo trims surrounding white space off a receipt number, exactly as the database
// does for a POS writing orders directly (asciiSpace, whatever the database's locale), and
// checks what is left.
func (c *checks) receiptNo(v *string) {
	*v = strings.Trim(*v, asciiSpace)
	c.text("receiptNo", *v, 64)
}

// asciiSpace is the white space trimmed off receipt numbers: ASCII only, the set of the
// orders_trim_receipt_no trigger. unicode.IsSpace would trim more (U+3000, U+00A0) than the
// trigger, and the two paths would then store one receipt as two.
const asciiSpace = " \t\n\v\f\r"
