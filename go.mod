module github.com/lanyard-id/lanyard

go 1.26.8
