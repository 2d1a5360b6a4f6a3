package schedules

import "github.com/scan-bridge/scan-bridge/scanjob"

// scheduleLane puts a job a schedule sends again into the schedule lane,
// which uses only the quota that pushes leave free (docs/scheduling.md,
// "Lanes").
func scheduleLane(j scanjob.Job) scanjob.Job {
	j.Lane = scanjob.LaneSchedule
	return j
}
