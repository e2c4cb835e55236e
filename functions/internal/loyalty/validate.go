package loyalty

import (
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// checks gathers the first problem with an input; each check names the field it reads.
type checks struct{ err *Error }

func (c *checks) uuid(field, v string) {
	if c.err != nil {
		return
	}
	if v == "" {
		c.err = invalid("%s is required", field)
	} else if _, err := uuid.Parse(v); err != nil {
		c.err = invalid("%s must be a uuid", field)
	}
}

func (c *checks) text(field, v string, maxLen int) {
	if c.err != nil {
		return
	}
	if strings.TrimSpace(v) == "" {
		c.err = invalid("%s is required", field)
	} else if utf8.RuneCountInString(v) > maxLen {
		c.err = invalid("%s is longer than %d characters", field, maxLen)
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
