package config

import "testing"

func TestCanonical(t *testing.T) {
	tests := []struct {
		typ      Type
		in, want string
	}{
		{Boolean, " TRUE ", "true"},
		{Long, "+0042", "42"},
		{Int, "-7", "-7"},
		{Long, "junk", "junk"},
		{Double, "0.5", "0.5"},
		{Double, "1", "1.0"},
		{Double, "0", "0.0"},
		{Double, ".25", "0.25"},
		{Double, "0.0001", "1.0E-4"},
		{Double, "15000000", "1.5E7"},
		{Double, "1234567.5", "1234567.5"},
		{List, " compact , delete ", "compact,delete"},
		{List, "", ""},
		{String, " CreateTime ", "CreateTime"},
	}
	for _, tc := range tests {
		if got := canonical(tc.typ, tc.in); got != tc.want {
			t.Errorf("canonical(%v, %q) = %q, want %q", tc.typ, tc.in, got, tc.want)
		}
	}
}

func TestTypeAndSourceNames(t *testing.T) {
	if Long.String() != "LONG" || List.String() != "LIST" || Type(42).String() != "UNKNOWN" {
		t.Error("Type.String")
	}
	if SourceDynamicTopic.String() != "DYNAMIC_TOPIC_CONFIG" || SourceDefault.String() != "DEFAULT_CONFIG" ||
		SourceStaticBroker.String() != "STATIC_BROKER_CONFIG" || Source(0).String() != "UNKNOWN" {
		t.Error("Source.String")
	}
	// Wire numbers (KIP-569 config_type, DescribeConfigs config_source).
	if Boolean != 1 || Password != 9 || SourceDynamicDefaultBroker != 3 || SourceDynamicBrokerLogger != 6 {
		t.Error("wire numbering changed")
	}
}
