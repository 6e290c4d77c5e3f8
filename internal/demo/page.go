package demo

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
)

// page is an HTML page the server sent, read as a person without
// JavaScript reads it: its text, and the fields of its forms.
type page struct{ root *html.Node }

func parsePage(body []byte) (*page, error) {
	n, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	return &page{n}, nil
}

// all returns the elements under n that match, in document order.
func all(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && match(c) {
			out = append(out, c)
		}
	}
	return out
}

// first returns the first element under n that matches, or nil.
func first(n *html.Node, match func(*html.Node) bool) *html.Node {
	if found := all(n, match); len(found) > 0 {
		return found[0]
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// tagClass matches the elements named tag of class class ("" for any).
func tagClass(tag, class string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		return n.Data == tag && (class == "" || strings.Contains(" "+attr(n, "class")+" ", " "+class+" "))
	}
}

// byID matches the element whose id is id.
func byID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { return attr(n, "id") == id }
}

// text returns the text under n, its white space collapsed.
func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
