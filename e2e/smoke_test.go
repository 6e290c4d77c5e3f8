package e2e

import (
	"testing"

	"github.com/testimony-project/testimony/crypto/envelope"
)

func TestStudyLoads(t *testing.T) {
	id, _ := envelope.GenerateIdentity()
	loadStudy(t, "test-study", id.Recipient())
}
