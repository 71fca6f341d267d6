module echoserver

go 1.19
