package main

import (
	"fmt"
	"reflect"
	"strings"
)

// configDiff lists the field paths ("listeners[0].users[1].name",
// "log.level") whose values differ between two configurations, using the
// YAML names. A list whose length changed is one path ("cluster.seeds"), not
// one per element. Fields added to Config later are compared too: anything
// the reload does not know how to apply is reported as needing a restart.
func configDiff(old, new *Config) []string {
	var out []string
	diffValue("", reflect.ValueOf(*old), reflect.ValueOf(*new), &out)
	return out
}

func diffValue(path string, a, b reflect.Value, out *[]string) {
	switch a.Kind() {
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" {
				name = strings.ToLower(f.Name)
			}
			if path != "" {
				name = path + "." + name
			}
			diffValue(name, a.Field(i), b.Field(i), out)
		}
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			*out = append(*out, path)
			return
		}
		for i := range a.Len() {
			diffValue(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i), out)
		}
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				*out = append(*out, path)
			}
			return
		}
		diffValue(path, a.Elem(), b.Elem(), out)
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, path)
		}
	}
}

// under reports whether path is field or inside it ("listeners[0].users[1]"
// is under "listeners[0].users").
func under(path, field string) bool {
	return path == field || strings.HasPrefix(path, field+".") || strings.HasPrefix(path, field+"[")
}
