package hsstest

import (
	"strconv"
	"time"
)

// task is a scan or sync task, as ListImageScanTask shows it.
type task struct {
	id, kind, taskType string
	target             Target
	begin, end         time.Time
	images             []*image
	isAll              bool
	scanScope          *int32
}

// addTask records a task. f.mu must be held.
func (f *Fake) addTask(c apiCall, t *task) {
	t.id = "hsstest-task-" + strconv.Itoa(len(f.tasks)+1)
	t.target = c.target
	f.tasks = append(f.tasks, t)
}

func (f *Fake) createScanTask(c apiCall) answer {
	return answer{bad: invalid("not yet served")}
}

func (f *Fake) listTasks(c apiCall) answer {
	return answer{bad: invalid("not yet served")}
}

func (f *Fake) createSyncTask(c apiCall) answer {
	return answer{bad: invalid("not yet served")}
}
