package config

import "fmt"

// ValidateTopicConfigs checks the combination of a topic's configs, as Kafka
// does on CreateTopics and AlterConfigs after each value passed
// ValidateTopic: every value in force must be valid, min.compaction.lag.ms
// must not exceed max.compaction.lag.ms, and a topic with
// remote.storage.enable=true must use cleanup.policy=delete (or the empty
// list) with local retention within the topic-wide retention. Whether tiered
// storage is enabled cluster-wide, and whether remote storage is being
// turned off without remote.log.delete.on.disable, the caller checks: both
// need state this package does not have.
//
// Errors wrap ErrInvalid.
func ValidateTopicConfigs(l Layers) error {
	t, raw, err := effectiveTopic(l)
	if err != nil {
		return err
	}
	if raw.minLagMs > raw.maxLagMs {
		return comboError(fmt.Sprintf("conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)", raw.minLagMs, raw.maxLagMs))
	}
	if !t.RemoteStorage {
		return nil
	}
	if t.CleanupPolicyCompact {
		return comboError("Remote log storage only supports topics with cleanup.policy=delete or cleanup.policy being an empty list.")
	}
	if err := checkLocalRetention("local.retention.bytes", raw.localBytes, "retention.bytes", t.RetentionBytes, t.RetentionBytes > -1); err != nil {
		return err
	}
	if err := checkLocalRetention("local.retention.ms", raw.localMs, "retention.ms", raw.retentionMs, raw.retentionMs != -1); err != nil {
		return err
	}
	if t.RemoteLogCopyDisable {
		if raw.localBytes != -2 && raw.localBytes != t.RetentionBytes {
			return comboError("When `remote.log.copy.disable` is set to true, the `local.retention.bytes` and `retention.bytes` must be set to the identical value because there will be no more logs copied to the remote storage.")
		}
		if raw.localMs != -2 && raw.localMs != raw.retentionMs {
			return comboError("When `remote.log.copy.disable` is set to true, the `local.retention.ms` and `retention.ms` must be set to the identical value because there will be no more logs copied to the remote storage.")
		}
	}
	return nil
}

// checkLocalRetention enforces local <= total when the total is limited;
// -2 (use the total) always passes.
func checkLocalRetention(localName string, local int64, totalName string, total int64, limited bool) error {
	if !limited || local == -2 {
		return nil
	}
	if local == -1 {
		return &ValueError{Name: localName, Value: "-1", Reason: fmt.Sprintf("Value must not be -1 as %s value is set as %d.", totalName, total)}
	}
	if local > total {
		return &ValueError{Name: localName, Value: fmt.Sprint(local), Reason: fmt.Sprintf("Value must not be more than %s property value: %d", totalName, total)}
	}
	return nil
}

// comboError is a conflict between configs. It wraps ErrInvalid.
type comboError string

func (e comboError) Error() string { return string(e) }
func (e comboError) Unwrap() error { return ErrInvalid }
