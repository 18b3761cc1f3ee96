// Command velero-plugin-kubecompass-faults is a Velero plugin for tests: it injects backup and restore faults into
// objects that carry the label kubecompass.test/fault, so the tests can make real Velero end a Backup or a Restore
// PartiallyFailed, skip an object or restore content that differs from the backup. Objects without the label are
// never touched. Production never loads this plugin; it exists because a real PartiallyFailed backup cannot be
// provoked from outside Velero on a healthy cluster.
package main

import (
	"fmt"

	"github.com/sirupsen/logrus"
	api "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

const (
	// FaultLabel names the fault an object asks for; its values are the constants below.
	FaultLabel = "kubecompass.test/fault"
	// BackupError: the backup action fails on the object, Velero counts an error, the Backup ends PartiallyFailed.
	BackupError = "backup-error"
	// RestoreError: the restore action fails on the object, the Restore ends PartiallyFailed.
	RestoreError = "restore-error"
	// RestoreSkip: the restore action discards the object (not restored, the Restore still Completed).
	RestoreSkip = "restore-skip"
	// RestoreAlter: a ConfigMap is restored with AlteredSuffix appended to each of its data values.
	RestoreAlter = "restore-alter"

	AlteredSuffix = "-altered"

	BackupActionName  = "kubecompass.test/backup-faults"
	RestoreActionName = "kubecompass.test/restore-faults"
)

func main() {
	framework.NewServer().
		RegisterBackupItemAction(BackupActionName, func(logger logrus.FieldLogger) (any, error) {
			return &backupFaults{log: logger}, nil
		}).
		RegisterRestoreItemAction(RestoreActionName, func(logger logrus.FieldLogger) (any, error) {
			return &restoreFaults{log: logger}, nil
		}).
		Serve()
}

// labelled selects only the objects that carry the fault label, whatever its value.
func labelled() (velero.ResourceSelector, error) {
	return velero.ResourceSelector{LabelSelector: FaultLabel}, nil
}

func fault(item runtime.Unstructured) (string, *unstructured.Unstructured) {
	obj := &unstructured.Unstructured{Object: item.UnstructuredContent()}
	return obj.GetLabels()[FaultLabel], obj
}

type backupFaults struct {
	log logrus.FieldLogger
}

func (a *backupFaults) AppliesTo() (velero.ResourceSelector, error) {
	return labelled()
}

func (a *backupFaults) Execute(item runtime.Unstructured, _ *api.Backup) (
	runtime.Unstructured, []velero.ResourceIdentifier, error) {
	value, obj := fault(item)
	if value == BackupError {
		a.log.Infof("injecting %s=%s for %s %s/%s", FaultLabel, value, obj.GetKind(), obj.GetNamespace(),
			obj.GetName())
		return nil, nil, fmt.Errorf("injected fault %s=%s", FaultLabel, value)
	}
	return item, nil, nil
}

type restoreFaults struct {
	log logrus.FieldLogger
}

func (a *restoreFaults) AppliesTo() (velero.ResourceSelector, error) {
	return labelled()
}

func (a *restoreFaults) Execute(input *velero.RestoreItemActionExecuteInput) (
	*velero.RestoreItemActionExecuteOutput, error) {
	value, obj := fault(input.Item)
	switch value {
	case RestoreError:
		a.log.Infof("injecting %s=%s for %s %s/%s", FaultLabel, value, obj.GetKind(), obj.GetNamespace(),
			obj.GetName())
		return nil, fmt.Errorf("injected fault %s=%s", FaultLabel, value)
	case RestoreSkip:
		return velero.NewRestoreItemActionExecuteOutput(input.Item).WithoutRestore(), nil
	case RestoreAlter:
		if obj.GetKind() != "ConfigMap" {
			return nil, fmt.Errorf("%s=%s applies to ConfigMaps, not %s %s", FaultLabel, value, obj.GetKind(),
				obj.GetName())
		}
		data, found, err := unstructured.NestedStringMap(obj.Object, "data")
		if err != nil || !found || len(data) == 0 {
			return nil, fmt.Errorf("%s=%s: ConfigMap %s has no data to alter (%v)", FaultLabel, value,
				obj.GetName(), err)
		}
		for key, text := range data {
			data[key] = text + AlteredSuffix
		}
		if err := unstructured.SetNestedStringMap(obj.Object, data, "data"); err != nil {
			return nil, fmt.Errorf("ConfigMap %s: %w", obj.GetName(), err)
		}
		return velero.NewRestoreItemActionExecuteOutput(obj), nil
	}
	return velero.NewRestoreItemActionExecuteOutput(input.Item), nil
}
