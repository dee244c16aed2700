// The Lua side of lua-health: a gopher-lua state set up as Argo CD sets one up
// for a health script (util/lua in argo-cd), the object handed over as the
// global obj, and the returned table read back as a health status.
package main

import (
	"context"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// scriptTimeout is how long Argo CD lets one health script run.
const scriptTimeout = time.Second

// healthCodes are the statuses Argo CD accepts from a script; anything else
// becomes Unknown with invalidHealthStatus.
var healthCodes = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true,
}

const invalidHealthStatus = "Lua returned an invalid health status"

// executeHealth runs script with obj as the global obj and returns the status and message it reports.
func executeHealth(script string, obj map[string]any) (string, string, error) {
	l, err := newState()
	if err != nil {
		return "", "", err
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	fn, err := l.LoadString(script)
	if err != nil {
		return "", "", err
	}
	l.Push(fn)
	if err := l.PCall(0, lua.MultRet, nil); err != nil {
		return "", "", err
	}
	return healthOf(l.Get(-1))
}

// newState opens what Argo CD opens for a script without useOpenLibs: the base,
// package and table libraries, and an os module (with os.time only) that a
// script gets through require("os"). No string, math, io or full os library.
func newState() (*lua.LState, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	libs := []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	}
	for _, lib := range libs {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			l.Close()
			return nil, fmt.Errorf("opening Lua library %q: %w", lib.name, err)
		}
	}
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int {
		l.Push(l.SetFuncs(l.NewTable(), map[string]lua.LGFunction{"time": osTime}))
		return 1
	})
	return l, nil
}

// osTime is os.time() without arguments: the current Unix time.
func osTime(l *lua.LState) int {
	l.Push(lua.LNumber(time.Now().Unix()))
	return 1
}

// toLua converts a value decoded from JSON into Lua the way Argo CD does:
// objects become tables keyed by string, arrays 1-based tables, numbers
// LNumber, and null (or a type JSON does not produce) nil, so the key is absent.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetH(lua.LString(key), toLua(l, item))
		}
		return t
	default:
		return lua.LNil
	}
}

// healthOf reads what the script returned: a table's status and message (an
// unknown status becomes Unknown, as in Argo CD), nil as no health at all.
func healthOf(ret lua.LValue) (string, string, error) {
	switch r := ret.(type) {
	case *lua.LTable:
		status, _ := r.RawGetString("status").(lua.LString)
		message, _ := r.RawGetString("message").(lua.LString)
		if !healthCodes[string(status)] {
			return "Unknown", invalidHealthStatus, nil
		}
		return string(status), string(message), nil
	case *lua.LNilType:
		return "", "", nil
	default:
		return "", "", fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
}
