//go:build !linux

package hostinfo

import "errors"

func liveArch() string { return "" }

func liveEthtool(string) (ethtoolInfo, error) {
	return ethtoolInfo{}, errors.New("ethtool: not supported on this OS")
}
