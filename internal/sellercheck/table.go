package sellercheck

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the report for people: a header naming the seller and the verdict, then
// one row per check (check, result, activity, HTTP status, result code, latency, evidence).
func (r Report) WriteTable(w io.Writer) error {
	verdict := "PASSED"
	if !r.Passed {
		verdict = "FAILED (" + strings.Join(r.Failed(), ", ") + ")"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "seller %s at %s: %s\n\n", r.SellerID, r.Endpoint, verdict)
	fmt.Fprintln(tw, "CHECK\tRESULT\tACTIVITY\tHTTP\tCODE\tLATENCY\tEVIDENCE")
	for _, c := range r.Checks {
		status := "-"
		if c.HTTPStatus != 0 {
			status = fmt.Sprint(c.HTTPStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%dms\t%s\n", c.Name, strings.ToUpper(c.Status), dash(c.Activity), status,
			dash(c.ResultCode), c.LatencyMs, oneLine(c.Evidence))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write check table: %w", err)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return oneLine(s)
}

// oneLine keeps a seller's text from breaking the table (or faking rows of it).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
